using Microsoft.Extensions.Configuration;

namespace AgentStreaming.AppHost;

/// <summary>What keeps the dashboard's first page free of warning banners on the http launch profile.</summary>
internal static class DashboardExtensions
{
    /// <summary>
    /// <c>Dashboard:AllowAnonymous</c> (the http launch profile sets it): the dashboard's pages open without a login,
    /// while its OTLP endpoint and telemetry API keep the keys Aspire gives them.
    /// </summary>
    /// <remarks>
    /// Aspire's own switch for this, <c>ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS</c>, opens the OTLP endpoint and the
    /// telemetry API too, and the dashboard then flags every page with an "Endpoint is unsecured" banner. Here the
    /// AppHost starts secured (a browser token, an OTLP key handed to every service in <c>OTEL_EXPORTER_OTLP_HEADERS</c>,
    /// a telemetry API key) and only the browser token is dropped, so the pages need no login and nothing else on the
    /// machine can send the dashboard telemetry or read it without the keys.
    /// </remarks>
    public static IDistributedApplicationBuilder WithAnonymousDashboardPages(this IDistributedApplicationBuilder builder)
    {
        if (builder.Configuration.GetValue("Dashboard:AllowAnonymous", false))
        {
            // An empty browser token: Aspire configures the dashboard's frontend as unsecured (no login page).
            builder.Configuration["AppHost:BrowserToken"] = string.Empty;
        }

        return builder;
    }

    /// <summary>
    /// Tells Aspire that a project serves no https (the AppHost gives its projects http endpoints only), so it neither
    /// configures a development certificate for it nor warns in the dashboard ("No trusted development certificate")
    /// that none is trusted: on Linux, <c>dotnet dev-certs https --trust</c> cannot make one trusted by browsers.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithoutDevelopmentCertificate(this IResourceBuilder<ProjectResource> project)
    {
#pragma warning disable ASPIRECERTIFICATES001 // Experimental in Aspire 13.6; the one way to opt a project out of the certificate.
        return project.WithoutHttpsCertificate();
#pragma warning restore ASPIRECERTIFICATES001
    }
}
