using System.Net.Http.Json;
using System.Text.Json;
using AgentStreaming.Testing;
using Microsoft.Playwright;

namespace AgentStreaming.Worker.Api.Tests;

/// <summary>The web chat in headless Debian Chromium (Playwright with ExecutablePath; no browser download).</summary>
public sealed class ChatPageTests(ApiFixture fixture)
{
    private static readonly string[] ChromiumArgs =
    [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync",
    ];

    [Fact]
    public async Task Chat_ConnectionCutMidStream_RendersThePersistedResponseOnce()
    {
        using var http = ApiFixture.Client(fixture.BaseAddress);
        // The page reaches the Worker through a proxy that resets the next event stream's connection after 25
        // events, as a dropped network would; EventSource then reconnects with Last-Event-ID.
        await using var network = CuttingProxy.Start(fixture.BaseAddress);
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ChromiumArgs });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1000, Height = 1400 } });
        await page.GotoAsync(new Uri(network.BaseAddress, "/chat/").ToString());
        network.CutNextEventStreamAfter(25);

        await page.FillAsync("#message", "Plan 3 days in Kyoto for food and temples");
        await page.ClickAsync("#send");
        var answer = page.Locator(".message.assistant").Last;
        await Assertions.Expect(answer).ToHaveAttributeAsync("data-state", "done", new() { Timeout = 60_000 });

        var runId = await answer.GetAttributeAsync("data-run-id");
        var reconnects = await answer.GetAttributeAsync("data-reconnects");
        var raw = await answer.Locator(".content").GetAttributeAsync("data-raw");
        var rendered = await answer.Locator(".content").InnerTextAsync();
        var run = await http.GetFromJsonAsync<JsonElement>($"/agents/{TestRuns.Agent}/runs/{runId}");
        var persisted = run.GetProperty("response").GetString()!;
        var expectedRendered = await page.EvaluateAsync<string>(
            "text => { const d = document.createElement('div'); d.className = 'content'; d.appendChild(window.AgentMarkdown.render(text)); document.body.appendChild(d); const t = d.innerText; d.remove(); return t; }",
            persisted);
        Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "artifacts"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(AppContext.BaseDirectory, "artifacts", "chat-resumed.png"), FullPage = true });

        Assert.Equal(1, network.Cuts);
        Assert.True(int.TryParse(reconnects, out var count) && count >= 1, $"The page did not reconnect (data-reconnects = '{reconnects}'); the cut did not happen mid-stream.");
        Assert.Equal(persisted, raw);
        Assert.Equal(expectedRendered, rendered);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(rendered, "Kyoto Adventure"));
        Assert.True(await answer.Locator(".chip").CountAsync() >= 2, "Tool call chips are shown.");
    }

    [Fact]
    public async Task Chat_MarkdownRenderer_EscapesHtml()
    {
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ChromiumArgs });
        var page = await browser.NewPageAsync();
        await page.GotoAsync(new Uri(fixture.BaseAddress, "/chat/").ToString());

        var html = await page.EvaluateAsync<string>(
            "t => { const d = document.createElement('div'); d.appendChild(window.AgentMarkdown.render(t)); return d.innerHTML; }",
            "# Title <img src=x onerror=alert(1)>\n- **bold** and `<script>`\n[link](javascript:alert(1))");

        Assert.DoesNotContain("<img", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("href=\"javascript", html, StringComparison.Ordinal);
        Assert.Contains("<strong>bold</strong>", html, StringComparison.Ordinal);
        Assert.Contains("&lt;img", html, StringComparison.Ordinal);
    }
}
