namespace AgentStreaming.Worker.Api;

/// <summary>
/// Puts the API's cross-cutting middleware in front of the whole pipeline, so its order does not depend on where
/// <c>MapAgentApi</c> (or anything else) is called: problem details for unhandled exceptions and for bodiless error
/// statuses (unknown routes, wrong methods), whatever the request's <c>Accept</c> header, CORS (when configured), the rate limit on every route, then authentication (JWT bearer or API key) on every non-health route.
/// </summary>
internal sealed class AgentApiStartupFilter : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.UseExceptionHandler();
        // The default page writes problem details only to clients that accept JSON, and text/plain to the others
        // (browsers, EventSource, XML clients); a problem result falls back to JSON whatever the Accept header.
        app.UseStatusCodePages(static context => Results.Problem(statusCode: context.HttpContext.Response.StatusCode).ExecuteAsync(context.HttpContext));
        var options = app.ApplicationServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<AgentApiOptions>>().Value;
        if (options.CorsOrigins.Count > 0)
        {
            app.UseCors(Microsoft.Extensions.DependencyInjection.AgentApiServiceCollectionExtensions.CorsPolicy);
        }

        app.UseRateLimiter();
        app.UseMiddleware<Security.AgentApiAccessMiddleware>();
        next(app);
    };
}
