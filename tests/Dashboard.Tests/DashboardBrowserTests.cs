using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using AgentStreaming.AppHost.Hosting;
using AgentStreaming.AppHost.Testing;
using Microsoft.Playwright;

namespace AgentStreaming.Dashboard.Tests;

/// <summary>The whole system started by the testing builder, the dashboard driven in Debian's headless chromium.</summary>
public sealed partial class DashboardBrowserTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);
    private static readonly string Artifacts = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "artifacts")).FullName;

    [Fact]
    public async Task Dashboard_ShowsResourcesTracesHistory_AndStreamsARunLiveAsItIsWritten()
    {
        await using var app = DistributedApplicationTestingBuilder.Create()
            .WithWorkerEnvironment("OfflineDemoModel__TokensPerSecond", "40")
            .Build();
        await app.StartAsync(StartTimeout);
        var client = app.Application.Instance("client");
        await WaitUntilAsync(() => client.State is ResourceState.Exited, TimeSpan.FromSeconds(120), () => Console(client));
        Assert.True(client.ExitCode == 0, Console(client));
        var conversationId = ConversationId().Match(Console(client)) is { Success: true } m ? m.Groups[1].Value : throw new InvalidOperationException("No conversation id in:\n" + Console(client));

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
        });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1440, Height = 1000 } });
        page.SetDefaultTimeout(30_000);
        var pageErrors = new List<string>();
        page.PageError += (_, error) => pageErrors.Add(error);
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                output.WriteLine("browser console: " + message.Text);
            }
        };
        var dashboard = app.Application.DashboardUrl;

        // Resources: all running.
        await page.GotoAsync(dashboard + "/#/resources");
        await Assertions.Expect(page.Locator("tr[data-resource='redis'] [data-testid='state']")).ToHaveTextAsync("Healthy");
        await Assertions.Expect(page.Locator("tr[data-resource='worker-1'] [data-testid='state']")).ToHaveTextAsync("Healthy");
        await Assertions.Expect(page.Locator("tr[data-resource='client'] [data-testid='state']")).ToHaveTextAsync("Exited");
        await Assertions.Expect(page.Locator("tr[data-resource='worker-1'] a[href^='http://127.0.0.1:']")).ToBeVisibleAsync();
        await ScreenshotAsync(page, "1-resources");

        // Agents: the demo conversation, its history with the answer.
        await page.GotoAsync(dashboard + "/#/agents");
        await page.Locator($"tr[data-conversation='{conversationId}'] a").ClickAsync();
        var answer = page.Locator("[data-testid='history'] [data-role='assistant'] .text").First;
        await Assertions.Expect(answer).ToContainTextAsync("Tokyo");
        await Assertions.Expect(page.Locator("[data-testid='runs'] tr[data-status='completed']")).ToHaveCountAsync(1);
        await ScreenshotAsync(page, "2-conversation");

        // The run's trace: spans of the client and the worker (the client exports once it has ServiceDefaults).
        var clientExports = await EventuallyAsync(() => app.Application.Telemetry.Spans().Any(s => s.Service == "client"), TimeSpan.FromSeconds(10));
        await page.Locator("[data-testid='runs'] [data-testid='trace-link']").First.ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid='waterfall'] .wf-row[data-service='worker']").First).ToBeVisibleAsync();
        if (clientExports)
        {
            await Assertions.Expect(page.Locator("[data-testid='waterfall'] .wf-row[data-service='client']").First).ToBeVisibleAsync(new() { Timeout = 30_000 });
        }
        else
        {
            output.WriteLine("The demo client exported no spans (no ServiceDefaults in Client yet): asserted worker spans only.");
        }

        var services = await page.EvaluateAsync<string[]>("() => [...new Set([...document.querySelectorAll('.wf-row')].map(r => r.dataset.service))]");
        output.WriteLine("services in the run's trace: " + string.Join(", ", services));
        Assert.True(services.Length >= (clientExports ? 2 : 1), string.Join(", ", services));
        await page.Locator(".wf-row", new() { HasText = "invoke_agent" }).First.ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid='span-detail']")).ToContainTextAsync("agent_streaming.run.id");
        await ScreenshotAsync(page, "3-trace");

        // A second run, followed live as it is written.
        using var http = new HttpClient { BaseAddress = app.GetEndpoint("worker-1") };
        using var started = await http.PostAsJsonAsync("/agents/TravelPlanner/runs", new { message = "Now make it 5 days", conversationId });
        Assert.True(started.IsSuccessStatusCode, await started.Content.ReadAsStringAsync());
        var runId = (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("runId").GetString()!;
        await page.GotoAsync($"{dashboard}/#/runs/{runId}?agent=TravelPlanner&conversation={conversationId}");
        var streaming = await page.WaitForFunctionAsync(
            "() => document.querySelector('[data-testid=run-state]')?.dataset.state === 'streaming' && Number(document.querySelector('[data-testid=run-text]').dataset.length) > 0 ? Number(document.querySelector('[data-testid=run-text]').dataset.length) : null",
            null,
            new() { Timeout = 60_000, PollingInterval = 50 });
        var firstLength = await streaming.JsonValueAsync<int>();
        await page.WaitForFunctionAsync(
            "first => document.querySelector('[data-testid=run-state]').dataset.state === 'streaming' && Number(document.querySelector('[data-testid=run-text]').dataset.length) > first",
            firstLength,
            new() { Timeout = 30_000, PollingInterval = 50 });
        var grownLength = await page.EvaluateAsync<int>("() => Number(document.querySelector('[data-testid=run-text]').dataset.length)");
        output.WriteLine($"live view: {firstLength} → {grownLength} characters while the run was streaming");
        await ScreenshotAsync(page, "4-run-live");
        await Assertions.Expect(page.Locator("[data-testid='run-state']")).ToHaveAttributeAsync("data-state", "done", new() { Timeout = 120_000 });
        await Assertions.Expect(page.Locator("[data-testid='run-events'] li[data-kind='done']")).ToHaveCountAsync(1);
        var finalText = await page.Locator("[data-testid='run-text']").TextContentAsync();
        await ScreenshotAsync(page, "5-run-done");

        // The live view saw exactly what the history holds.
        await page.GotoAsync($"{dashboard}/#/agents/TravelPlanner/{conversationId}");
        await Assertions.Expect(page.Locator("[data-testid='history'] [data-role='assistant']")).ToHaveCountAsync(2);
        Assert.Equal(finalText, await page.Locator("[data-testid='history'] [data-role='assistant'] .text").Nth(1).TextContentAsync());

        // Metrics charts, structured logs and console logs render.
        await page.GotoAsync(dashboard + "/#/metrics");
        await Assertions.Expect(page.Locator("[data-chart='agent_streaming.runs'] [data-testid='summary'] tr[data-series]").First).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await Assertions.Expect(page.Locator("[data-chart='agent_streaming.run.time_to_first_chunk'] [data-testid='summary'] tr[data-series]").First).ToBeVisibleAsync();
        await ScreenshotAsync(page, "6-metrics");
        await page.GotoAsync(dashboard + "/#/logs?resource=worker");
        await Assertions.Expect(page.Locator("[data-testid='logs'] tbody tr td.msg").First).ToBeVisibleAsync();
        await ScreenshotAsync(page, "7-logs");
        await page.GotoAsync(dashboard + "/#/console/worker-1");
        await Assertions.Expect(page.Locator("[data-testid='console'] div").First).ToBeVisibleAsync();
        await ScreenshotAsync(page, "8-console");

        Assert.Empty(pageErrors);
    }

    private async Task ScreenshotAsync(IPage page, string name)
    {
        var path = Path.Combine(Artifacts, name + ".png");
        await page.ScreenshotAsync(new() { Path = path, FullPage = true });
        output.WriteLine("screenshot: " + path);
    }

    private static string Console(ResourceInstance instance) => string.Join('\n', instance.Console.After(0).Select(l => l.Text));

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, Func<string> describe)
    {
        if (!await EventuallyAsync(condition, timeout))
        {
            throw new TimeoutException($"Condition not met within {timeout}:\n{describe()}");
        }
    }

    private static async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > timeout)
            {
                return false;
            }

            await Task.Delay(100);
        }

        return true;
    }

    [GeneratedRegex("conversation ([0-9a-f]{32})")]
    private static partial Regex ConversationId();
}
