using Microsoft.Playwright;

namespace AgentStreaming.AppHost.Tests;

/// <summary>The Aspire dashboard and the Worker's agents page in headless Debian Chromium (Playwright, no browser download).</summary>
[Collection(SharedSystemDefinition.Name)]
public sealed class PageTests(SharedSystem shared)
{
    private static readonly string[] ChromiumArgs =
    [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
    ];

    private static string Artifacts => Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "artifacts")).FullName;

    [Fact]
    public async Task AspireDashboard_ResourcesPage_ShowsRedisTheWorkersAndTheClient()
    {
        var dashboard = await shared.System.App.GetDashboardUrlAsync() ?? throw new Xunit.Sdk.XunitException("The dashboard does not run.");
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ChromiumArgs });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1500, Height = 900 } });

        await page.GotoAsync(dashboard.ToString());
        // A Blazor Server app: the grid appears once the circuit is up.
        var grid = page.GetByRole(AriaRole.Region, new() { Name = "Resources" });
        await Assertions.Expect(grid).ToContainTextAsync("redis", new() { Timeout = 60_000 });
        await Assertions.Expect(grid.GetByRole(AriaRole.Row, new() { NameRegex = new System.Text.RegularExpressions.Regex("^Project: worker-.* Running") })).ToHaveCountAsync(2);
        await Assertions.Expect(grid).ToContainTextAsync("client");
        // The Worker links its web chat and agents page.
        await Assertions.Expect(grid.GetByRole(AriaRole.Link, new() { Name = "Agents" }).First).ToHaveAttributeAsync("href", new System.Text.RegularExpressions.Regex("/agents/#token=ey[^&]+$"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(Artifacts, "aspire-dashboard-resources.png") });
    }

    [Fact]
    public async Task AgentsPage_ShowsTheDemoConversation_ItsRunWithATraceLink_AndReplaysItsStream()
    {
        Assert.Equal(0, await shared.System.WaitForExitAsync("client", TimeSpan.FromSeconds(120)));
        var worker = shared.System.App.GetEndpoint("worker", "http");
        var dashboard = await shared.System.App.GetDashboardUrlAsync();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ChromiumArgs });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1400, Height = 1000 } });

        // Signed in as the demo user, whose conversations the demo Client started, as the dashboard's link does it.
        await page.GotoAsync(new Uri(worker, "/agents/#token=" + AspireSystem.DemoToken).ToString());
        await Assertions.Expect(page.GetByTestId("principal")).ToHaveTextAsync("demo's conversations");
        var tokyo = page.Locator("#conversations li", new() { HasText = "Tokyo" }).First;
        await Assertions.Expect(tokyo).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await tokyo.ClickAsync();

        var run = page.Locator("#runs tr").First;
        await Assertions.Expect(run.Locator(".badge")).ToHaveTextAsync("completed");
        await Assertions.Expect(page.Locator("#history .turn.assistant .content").First).ToContainTextAsync("Tokyo");
        var trace = run.GetByTestId("trace-link");
        var dashboardRoot = dashboard!.GetLeftPart(UriPartial.Authority);
        await Assertions.Expect(trace).ToHaveAttributeAsync("href", new System.Text.RegularExpressions.Regex("^" + System.Text.RegularExpressions.Regex.Escape(dashboardRoot) + "/traces/detail/[0-9a-f]{32}$"));
        var traceUrl = (await trace.GetAttributeAsync("href"))!;

        await run.GetByRole(AriaRole.Button).ClickAsync();
        await Assertions.Expect(page.GetByTestId("live")).ToHaveAttributeAsync("data-state", "done", new() { Timeout = 30_000 });
        var replayed = await page.Locator("#live-content").InnerTextAsync();
        // The first row is the latest run, whose answer is the last assistant turn.
        var history = await page.Locator("#history .turn.assistant .content").Last.InnerTextAsync();
        Assert.Equal(history, replayed);
        Assert.True(await page.Locator("#live-chips .chip").CountAsync() >= 2, "The tool calls are shown.");
        await page.ScreenshotAsync(new() { Path = Path.Combine(Artifacts, "agents-page.png"), FullPage = true });

        // The link opens the run's trace in the Aspire dashboard (after its login, when it asks for one).
        await page.GotoAsync(dashboard.ToString());
        await page.GotoAsync(traceUrl);
        await Assertions.Expect(page.GetByText("invoke_agent TravelPlanner").First).ToBeVisibleAsync(new() { Timeout = 60_000 });
        await page.ScreenshotAsync(new() { Path = Path.Combine(Artifacts, "aspire-dashboard-run-trace.png") });

        await page.GotoAsync(new Uri(worker, "/chat/").ToString());
        await Assertions.Expect(page.Locator(".welcome h1")).ToBeVisibleAsync();
        await page.ScreenshotAsync(new() { Path = Path.Combine(Artifacts, "web-chat.png") });
    }
}
