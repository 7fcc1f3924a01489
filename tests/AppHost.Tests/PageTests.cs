using System.Net.Http.Json;
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
    public async Task AspireDashboard_ResourcesPage_ShowsRedisTheWorkersAndTheClient_WithoutAWarningBanner()
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

        // A first run without red: no "Endpoint is unsecured" banner (OTLP and the telemetry API have keys) and no "No
        // trusted development certificate" notification (no project asks for https), as with the http launch profile.
        var text = await page.InnerTextAsync("body");
        Assert.DoesNotContain("unsecured", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("development certificate", text, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, await page.Locator("fluent-message-bar").CountAsync());
    }

    [Fact]
    public async Task AspireDashboard_TheDemoRunsTracePage_AndTheGenAIViewOfItsAgentSpan()
    {
        Assert.Equal(0, await shared.System.WaitForExitAsync("client", TimeSpan.FromSeconds(120)));
        using var api = await DashboardTelemetry.ClientAsync(shared.System);
        var trace = await DashboardTelemetry.DemoTraceAsync(api);
        var traceId = trace[0].Span.GetProperty("traceId").GetString();
        var dashboard = await shared.System.App.GetDashboardUrlAsync();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ChromiumArgs });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1600, Height = 1000 } });

        await page.GotoAsync(dashboard!.ToString());
        await page.GotoAsync(new Uri(dashboard, $"/traces/detail/{traceId}").ToString());
        var agentRow = page.GetByRole(AriaRole.Row).Filter(new() { HasText = "invoke_agent TravelPlanner" }).First;
        await Assertions.Expect(agentRow).ToBeVisibleAsync(new() { Timeout = 60_000 });
        var text = await page.InnerTextAsync("body");
        Assert.Contains("run_agent TravelPlanner", text, StringComparison.Ordinal);
        Assert.Contains("run_attempt TravelPlanner", text, StringComparison.Ordinal);
        Assert.Contains("execute_tool get_weather_forecast", text, StringComparison.Ordinal);
        Assert.Contains("agent_stream append", text, StringComparison.Ordinal);
        Assert.DoesNotContain("EVAL", text, StringComparison.Ordinal);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Artifacts, "aspire-dashboard-demo-trace.png"), FullPage = true });

        // The agent span opens the GenAI view: the conversation (contents captured in Development) and the tool calls.
        await agentRow.Locator(".genai-details-button").ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Tab, new() { Name = "Input & output" })).ToBeVisibleAsync(new() { Timeout = 30_000 });
        // The dialog's text lives in its shadow DOM: the accessibility tree has it.
        var genAi = await page.GetByRole(AriaRole.Dialog).Last.AriaSnapshotAsync();
        TestContext.Current.TestOutputHelper?.WriteLine(genAi);
        Assert.Contains("Plan a 3-day trip to Tokyo", genAi, StringComparison.Ordinal);
        Assert.Contains("Tool calls", genAi, StringComparison.Ordinal);
        Assert.Contains("Tokens", genAi, StringComparison.Ordinal);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Artifacts, "aspire-dashboard-genai-view.png") });
    }

    [Fact]
    public async Task AspireDashboard_MetricsPage_ListsTheMetricsToWatch_WithData()
    {
        Assert.Equal(0, await shared.System.WaitForExitAsync("client", TimeSpan.FromSeconds(120)));
        // Data for the reader and cancel metrics: a run read live while it streams, then resumed; a run cancelled at once.
        using var worker = shared.System.Worker();
        var runId = await StartRunAsync(worker, "Plan a 2-day trip to Oslo");
        var entries = await AspireAppTests.ReadStreamAsync(worker, runId);
        var resumed = await AspireAppTests.ReadStreamAsync(worker, runId, lastEventId: entries[0].Id);
        Assert.Equal(entries.Skip(1), resumed);
        var cancelled = await StartRunAsync(worker, "Plan a 2-day trip to Bergen");
        using (var cancel = await worker.PostAsync($"/agents/TravelPlanner/runs/{cancelled}/cancel", content: null))
        {
            cancel.EnsureSuccessStatusCode();
        }

        using var api = await DashboardTelemetry.ClientAsync(shared.System);
        var dashboard = await shared.System.App.GetDashboardUrlAsync();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ChromiumArgs });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1600, Height = 1400 } });
        await page.GotoAsync(dashboard!.ToString());
        string[] metrics =
        [
            "agent_streaming.run.active", "agent_streaming.run.attempts", "agent_streaming.run.time_to_first_chunk", "agent_streaming.run.cancels",
            "agent_streaming.stream.live_readers", "agent_streaming.stream.reader.behind", "agent_streaming.stream.reader.lag",
            "agent_streaming.stream.resume.duration", "agent_streaming.stream.write.duration",
        ];

        // Each replica's Metrics page lists what that Worker recorded (a metric appears once it has data; exports go out
        // every second in Development); the runs, the resume and the cancel may each have landed on either replica.
        var replicas = await ReplicaNamesAsync(api);
        var listed = new HashSet<string>();
        await AspireSystem.WaitUntilAsync(
            async () =>
            {
                foreach (var replica in replicas)
                {
                    await page.GotoAsync(new Uri(dashboard, $"/metrics/resource/{replica}").ToString());
                    // Every .NET process records System.Runtime, so this says the page has rendered its meters; a replica
                    // that served none of the runs has no AgentStreaming meter to list.
                    await Assertions.Expect(page.GetByText("System.Runtime", new() { Exact = true }).First).ToBeVisibleAsync(new() { Timeout = 30_000 });
                    var text = await page.InnerTextAsync("body");
                    listed.UnionWith(metrics.Where(m => text.Contains(m, StringComparison.Ordinal)));
                    await page.ScreenshotAsync(new() { Path = Path.Combine(Artifacts, $"aspire-dashboard-metrics-{replica}.png"), FullPage = true });
                }

                return listed.Count == metrics.Length;
            },
            TimeSpan.FromSeconds(90),
            () => "not listed on any replica's Metrics page: " + string.Join(", ", metrics.Except(listed)));
    }

    private static async Task<string> StartRunAsync(HttpClient worker, string message)
    {
        using var started = await worker.PostAsJsonAsync("/agents/TravelPlanner/runs", new { message });
        started.EnsureSuccessStatusCode();
        return (await started.Content.ReadFromJsonAsync<global::System.Text.Json.JsonElement>()).GetProperty("runId").GetString()!;
    }

    /// <summary>The Worker replicas as the dashboard names them (<c>worker-xxxxxxxx</c>).</summary>
    private static async Task<List<string>> ReplicaNamesAsync(HttpClient api)
    {
        using var document = global::System.Text.Json.JsonDocument.Parse(await api.GetStringAsync("/api/telemetry/resources"));
        var names = new SortedSet<string>(StringComparer.Ordinal);
        void Walk(global::System.Text.Json.JsonElement element)
        {
            switch (element.ValueKind)
            {
                case global::System.Text.Json.JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        Walk(property.Value);
                    }

                    break;
                case global::System.Text.Json.JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                    {
                        Walk(item);
                    }

                    break;
                case global::System.Text.Json.JsonValueKind.String when System.Text.RegularExpressions.Regex.IsMatch(element.GetString()!, "^worker-[a-z0-9]+$"):
                    names.Add(element.GetString()!);
                    break;
            }
        }

        Walk(document.RootElement);
        return names.Count > 0 ? [.. names] : throw new Xunit.Sdk.XunitException("The dashboard names no Worker replica: " + document.RootElement);
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
