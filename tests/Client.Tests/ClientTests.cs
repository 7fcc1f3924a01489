using AgentStreaming.DurableAgents;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace AgentStreaming.Client.Tests;

/// <summary>The real Client process against a real redis-server and a real Worker (offline model).</summary>
public sealed partial class ClientTests(ClientFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task OneShot_Prompt_PrintsExactlyThePersistedResponse_AndExitsZero()
    {
        await using var client = await ClientProcess.RunToEndAsync(["--prompt", "Plan a 2-day trip to Lisbon with food"], fixture.ClientEnvironment(), Deadline);
        output.WriteLine(client.Stderr);

        Assert.Equal(0, client.ExitCode);
        var (runId, conversationId) = RunAndConversation(client.Stderr);
        var answer = await fixture.PersistedAnswerAsync(conversationId, runId);
        Assert.Contains("Lisbon", answer, StringComparison.Ordinal);
        Assert.Equal(WithFinalNewline(answer), client.Stdout);
        Assert.Matches($@"✓ done · first chunk \d+\.\d\d s · \d+ chunks · \d+\.\d\d s · run {runId}", client.Stderr);
        Assert.DoesNotContain("\u001b[", client.Stdout + client.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OneShot_Json_WritesOneObjectPerEntry_WithKindTextCursorSequenceAttempt()
    {
        await using var client = await ClientProcess.RunToEndAsync(["--prompt", "Plan a 2-day trip to Oslo", "--json"], fixture.ClientEnvironment(), Deadline);

        Assert.Equal(0, client.ExitCode);
        var entries = client.Stdout.TrimEnd('\n').Split('\n').Select(line => JsonDocument.Parse(line).RootElement).ToList();
        Assert.Equal("done", entries[^1].GetProperty("kind").GetString());
        Assert.Equal(Enumerable.Range(1, entries.Count).Select(i => (long)i), entries.Select(e => e.GetProperty("sequence").GetInt64()));
        Assert.All(entries, e =>
        {
            Assert.Equal(1, e.GetProperty("attempt").GetInt32());
            Assert.Matches(@"^\d+-\d+$", e.GetProperty("cursor").GetString());
        });
        var (runId, conversationId) = RunAndConversation(client.Stderr);
        Assert.All(entries, e => Assert.Equal(runId, e.GetProperty("runId").GetString()));
        var text = string.Concat(entries.Where(e => e.GetProperty("kind").GetString() == "text").Select(e => e.GetProperty("text").GetString()));
        Assert.Equal(await fixture.PersistedAnswerAsync(conversationId, runId), text);
        Assert.DoesNotContain("✓", client.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PipedChat_DetachedAndResumedAtSeveralPoints_TranscriptEqualsAnUninterruptedRun()
    {
        const string Message = "Plan a 3-day trip to Rome with museums and food";
        await using var reference = await ClientProcess.RunToEndAsync(["--prompt", Message], fixture.ClientEnvironment(), Deadline);
        Assert.Equal(0, reference.ExitCode);
        var uninterrupted = reference.Stdout;

        await using var client = ClientProcess.Start([], fixture.ClientEnvironment());
        await client.WaitForStderrAsync("^New conversation", Deadline);
        await client.WriteLineAsync(Message);
        await client.WaitForStderrAsync("^run ", Deadline);

        // Detach before the first text, at about a third and at about two thirds of the answer.
        var points = new[] { 0, uninterrupted.Length / 3, uninterrupted.Length * 2 / 3 };
        var cursors = new List<string>();
        for (var i = 0; i < points.Length; i++)
        {
            var point = points[i];
            await client.WaitForStdoutAsync(s => s.Length >= point, Deadline, $"{point} characters of the answer");
            await client.WriteLineAsync(string.Empty);
            await client.WaitForStderrAsync("^» Detached from run", Deadline, count: i + 1);
            var atDetach = client.Stdout;
            cursors.Add(DetachedCursor().Matches(client.Stderr)[i].Groups[1].Value);
            await client.WriteLineAsync(string.Empty);
            await client.WaitForStderrAsync("^» Resuming run", Deadline, count: i + 1);
            Assert.StartsWith(atDetach, client.Stdout, StringComparison.Ordinal);
        }

        await client.WaitForStderrAsync("^✓ done", Deadline);
        client.CloseInput();
        Assert.Equal(0, await client.WaitForExitAsync(Deadline));
        output.WriteLine(client.Stderr);

        Assert.Equal(uninterrupted, client.Stdout);
        var (runId, conversationId) = RunAndConversation(client.Stderr);
        Assert.Equal(WithFinalNewline(await fixture.PersistedAnswerAsync(conversationId, runId)), client.Stdout);
        Assert.Equal(cursors.Count, cursors.Distinct().Count());
    }

    /// <summary>Starts the chat in a terminal and asks for a trip, returning once the answer has begun on screen.</summary>
    private async Task<ClientProcess> StartTerminalChatMidAnswerAsync()
    {
        var client = ClientProcess.StartInTerminal([], fixture.ClientEnvironment());
        try
        {
            await client.WaitForScreenAsync("New conversation", Deadline);
            await client.WriteAsync("Plan a 2-day trip to Porto\r");
            await client.WaitForScreenAsync("Weather Outlook", Deadline);
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    [Fact]
    public async Task TerminalChat_EnterDetachesAndEnterResumes_TheScreenShowsTheWholeAnswerOnce()
    {
        await using var client = await StartTerminalChatMidAnswerAsync();
        await client.WriteAsync("\r");
        await client.WaitForScreenAsync("» Detached from run [0-9a-f]+ at cursor \\d+-\\d+", Deadline);
        await client.WriteAsync("\r");
        await client.WaitForScreenAsync("» Resuming run", Deadline);
        await client.WaitForScreenAsync("✓ done ·", Deadline);
        await client.WriteAsync("/quit\r");
        Assert.Equal(0, await client.WaitForExitAsync(Deadline));

        var screen = client.ScreenText;
        output.WriteLine(screen);
        Assert.Contains("\u001b[33m» Detached", client.Stdout, StringComparison.Ordinal);
        var (runId, conversationId) = RunAndConversation(screen);
        var answer = await fixture.PersistedAnswerAsync(conversationId, runId);
        var lines = screen.Split('\n');
        var first = Array.FindLastIndex(lines, l => l.StartsWith("  ↳ ", StringComparison.Ordinal)) + 1;
        var last = Array.FindIndex(lines, l => l.StartsWith("✓ done", StringComparison.Ordinal));
        var shown = lines[first..last].Where(l => !IsChrome(l)).Select(l => Spinner().Replace(l, string.Empty));
        Assert.Equal(NoWhitespace(answer), NoWhitespace(string.Concat(shown)));
    }

    [Fact]
    public async Task TerminalChat_QuitTypedWhileItAnswers_DetachesAndQuits_TheRunGoesOn()
    {
        await using var client = await StartTerminalChatMidAnswerAsync();
        await client.WriteAsync("/quit\r");

        // The command is carried out, not swallowed by the run's watcher: detached, then quit.
        Assert.Equal(130, await client.WaitForExitAsync(Deadline)); // docs/client.md: 130, left a run detached
        var screen = client.ScreenText;
        output.WriteLine(screen);
        Assert.Matches("» Detached from run [0-9a-f]+", screen);
        var (runId, conversationId) = RunAndConversation(screen);
        Assert.Contains($"Run {runId} goes on", screen, StringComparison.Ordinal);
        var agent = fixture.Agents.GetAgent("TravelPlanner");
        var session = agent.GetSession(conversationId);
        var deadline = DateTime.UtcNow + Deadline;
        while ((await agent.GetRunAsync(session, runId))?.Status.IsFinal() != true)
        {
            Assert.True(DateTime.UtcNow < deadline, $"Run {runId} did not finish within {Deadline} after the client quit.");
            await Task.Delay(200);
        }

        Assert.Contains("Porto", await fixture.PersistedAnswerAsync(conversationId, runId), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_OnAFinishedRun_ReplaysIt_AndCursorResumesAfterThatEntry()
    {
        await using var json = await ClientProcess.RunToEndAsync(["--prompt", "Plan a 2-day trip to Vienna", "--json"], fixture.ClientEnvironment(), Deadline);
        Assert.Equal(0, json.ExitCode);
        var entries = json.Stdout.TrimEnd('\n').Split('\n').Select(line => JsonDocument.Parse(line).RootElement).ToList();
        var (runId, conversationId) = RunAndConversation(json.Stderr);
        var answer = await fixture.PersistedAnswerAsync(conversationId, runId);

        await using var replay = await ClientProcess.RunToEndAsync(["--run", runId], fixture.ClientEnvironment(), Deadline);
        Assert.Equal(0, replay.ExitCode);
        Assert.Equal(WithFinalNewline(answer), replay.Stdout);

        var middle = entries.Count / 2;
        var cursor = entries[middle].GetProperty("cursor").GetString()!;
        var rest = string.Concat(entries.Skip(middle + 1).Where(e => e.GetProperty("kind").GetString() == "text").Select(e => e.GetProperty("text").GetString()));
        await using var resumed = await ClientProcess.RunToEndAsync(["--run", runId, "--cursor", cursor], fixture.ClientEnvironment(), Deadline);
        Assert.Equal(0, resumed.ExitCode);
        Assert.Equal(WithFinalNewline(rest), resumed.Stdout);

        var terminal = entries[^1].GetProperty("cursor").GetString()!;
        await using var atEnd = await ClientProcess.RunToEndAsync(["--run", runId, "--cursor", terminal, "--json"], fixture.ClientEnvironment(), Deadline);
        Assert.Equal(0, atEnd.ExitCode);
        Assert.Equal(string.Empty, atEnd.Stdout);
    }

    [Fact]
    public async Task PipedChat_CancelCommandWhileStreaming_CancelsTheRun_AndExitsWithThree()
    {
        await using var client = ClientProcess.Start([], fixture.ClientEnvironment());
        await client.WriteLineAsync("Plan a 5-day trip to Kyoto");
        await client.WaitForStdoutAsync(s => s.Length > 20, Deadline, "some answer text");
        await client.WriteLineAsync("/cancel");
        await client.WaitForStderrAsync("^⊘ cancelled", Deadline);
        client.CloseInput();
        Assert.Equal(3, await client.WaitForExitAsync(Deadline));

        var (runId, conversationId) = RunAndConversation(client.Stderr);
        var agent = fixture.Agents.GetAgent("TravelPlanner");
        var run = await agent.GetRunAsync(agent.GetSession(conversationId), runId);
        Assert.Equal(AgentStreaming.DurableAgents.RunStatus.Cancelled, run!.Status);
    }

    [Fact]
    public async Task WorkerKilledMidRun_TheClientShowsTheReset_AndFinishesWithTheCompleteSecondAttempt()
    {
        const string Message = "Plan a 3-day trip to Prague with beer and castles";
        await using var reference = await ClientProcess.RunToEndAsync(["--prompt", Message], fixture.ClientEnvironment(), Deadline);
        Assert.Equal(0, reference.ExitCode);

        // Two Workers of a cluster of their own: one is killed, the other takes the run over.
        var clusterId = "crash-" + Guid.NewGuid().ToString("N")[..8];
        var starting = new[] { fixture.StartWorkerAsync(clusterId, "crash-worker-1"), fixture.StartWorkerAsync(clusterId, "crash-worker-2") };
        try
        {
            // Inside the try: when one Worker fails to start, the one that did is stopped too.
            var workers = await Task.WhenAll(starting);
            await using var client = ClientProcess.Start(["--prompt", Message], fixture.ClientEnvironment(clusterId));
            await client.WaitForStderrAsync("^run ", Deadline);
            var (runId, _) = RunAndConversation(client.Stderr);
            await client.WaitForStdoutAsync(s => s.Length > 200, Deadline, "part of attempt 1");
            var host = workers.Single(w => w.Output.Contains($"Run {runId} attempt 1 started", StringComparison.Ordinal));
            await host.KillAsync();

            Assert.Equal(0, await client.WaitForExitAsync(TimeSpan.FromSeconds(120)));
            output.WriteLine(client.Describe());
            var marker = ResetMarker().Match(client.Stdout);
            Assert.True(marker.Success, client.Describe());
            Assert.Equal("2", marker.Groups[1].Value);
            Assert.Equal(reference.Stdout, client.Stdout[(marker.Index + marker.Length)..]);
            Assert.Contains("↻ attempt 2", client.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var worker in starting.Where(t => t.IsCompletedSuccessfully))
            {
                await (await worker).DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ConversationAndWait_ASecondTurn_ContinuesTheConversationAndPrintsItsAnswer()
    {
        await using var first = await ClientProcess.RunToEndAsync(["--prompt", "Plan a 2-day trip to Seville"], fixture.ClientEnvironment(), Deadline);
        Assert.Equal(0, first.ExitCode);
        var (_, conversationId) = RunAndConversation(first.Stderr);

        await using var second = await ClientProcess.RunToEndAsync(["--prompt", "Now make it 4 days", "--conversation", conversationId, "--wait"], fixture.ClientEnvironment(), Deadline);

        Assert.Equal(0, second.ExitCode);
        var (runId, sameConversation) = RunAndConversation(second.Stderr);
        Assert.Equal(conversationId, sameConversation);
        var answer = await fixture.PersistedAnswerAsync(conversationId, runId);
        Assert.Equal(WithFinalNewline(answer), second.Stdout);
        Assert.Contains("Seville", answer, StringComparison.Ordinal);
        var agent = fixture.Agents.GetAgent("TravelPlanner");
        Assert.Equal(4, (await agent.GetConversationAsync(agent.GetSession(conversationId))).History.Count);
    }

    [Fact]
    public async Task ModelFailure_ExitsWithOne_AndShowsTheRunsError()
    {
        var clusterId = "failing-" + Guid.NewGuid().ToString("N")[..8];
        await using var worker = await fixture.StartWorkerAsync(clusterId, "failing-worker", new Dictionary<string, string?> { ["OfflineDemoModel__FailAfterTokens"] = "5" });

        await using var client = await ClientProcess.RunToEndAsync(["--prompt", "Plan a 2-day trip to Bergen"], fixture.ClientEnvironment(clusterId), Deadline);

        Assert.Equal(1, client.ExitCode);
        Assert.Contains("The agent failed", client.Stderr, StringComparison.Ordinal);
        Assert.Matches("^run [0-9a-f]{32}", client.Stderr);
    }

    [Fact]
    public async Task MalformedCursor_ExitsWithTwo_AndSaysWhatACursorIs()
    {
        await using var client = await ClientProcess.RunToEndAsync(["--run", "0123456789abcdef", "--cursor", "not-a-cursor"], fixture.ClientEnvironment(), Deadline);
        Assert.Equal(2, client.ExitCode);
        Assert.Contains("'not-a-cursor' is not a stream cursor", client.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadArguments_ExitWithTwo()
    {
        await using var unknown = await ClientProcess.RunToEndAsync(["--bogus"], fixture.ClientEnvironment(), Deadline);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("--bogus", unknown.Stderr, StringComparison.Ordinal);

        await using var cursorWithoutRun = await ClientProcess.RunToEndAsync(["--cursor", "1-0"], fixture.ClientEnvironment(), Deadline);
        Assert.Equal(2, cursorWithoutRun.ExitCode);
        Assert.Contains("--cursor needs --run", cursorWithoutRun.Stderr, StringComparison.Ordinal);

        var noRedis = fixture.ClientEnvironment();
        noRedis["ConnectionStrings__redis"] = null;
        await using var missing = await ClientProcess.RunToEndAsync(["--prompt", "hi"], noRedis, Deadline);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("No Redis connection string", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OverTls_TrustingAPrivateCaByConfiguration_AnswersAPrompt_AndTheSettingWithoutTlsStopsItAtStart()
    {
        // A redis-server whose certificate only a test CA vouches for; Worker and Client get its TLS port and the CA file.
        await using var redis = await AgentStreaming.Testing.RedisServer.StartTlsAsync();
        var clusterId = "tls-" + Guid.NewGuid().ToString("N")[..8];
        var tls = new Dictionary<string, string?>
        {
            ["ConnectionStrings__redis"] = $"127.0.0.1:{redis.TlsPort},ssl=true,sslHost=localhost",
            ["Redis__CaCertificate"] = redis.TlsCaCertificateFile,
        };
        await using var worker = await AgentStreaming.Testing.WorkerProcess.StartAsync(tls["ConnectionStrings__redis"]!, clusterId, "tls-worker", ClientFixture.TokensPerSecond, tls);
        var environment = fixture.ClientEnvironment(clusterId);
        foreach (var (key, value) in tls)
        {
            environment[key] = value;
        }

        await using var client = await ClientProcess.RunToEndAsync(["--prompt", "Plan a 2-day trip to Ghent"], environment, Deadline);
        Assert.True(client.ExitCode == 0, client.Describe());
        Assert.Contains("Ghent", client.Stdout, StringComparison.Ordinal);
        Assert.Contains("✓ done", client.Stderr, StringComparison.Ordinal);

        environment["ConnectionStrings__redis"] = redis.ConnectionString; // the plain port, without ssl=true
        await using var plain = await ClientProcess.RunToEndAsync(["--prompt", "hi"], environment, Deadline);
        Assert.Equal(2, plain.ExitCode);
        Assert.Contains("Redis:CaCertificate is set", plain.Stderr, StringComparison.Ordinal);
        Assert.Contains("ssl=true", plain.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownRun_ExitsWithSix_AndSaysItIsUnknownOrExpired()
    {
        var environment = fixture.ClientEnvironment();
        environment["AgentStreaming__Redis__NotFoundTimeout"] = "00:00:01";
        await using var client = await ClientProcess.RunToEndAsync(["--run", Guid.NewGuid().ToString("N")], environment, Deadline);
        Assert.Equal(6, client.ExitCode);
        Assert.Contains("was not found or has expired", client.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RedisUnreachable_ExitsWithFour_AndSaysWhatToDo()
    {
        await using var client = await ClientProcess.RunToEndAsync(["--prompt", "hi", "--redis", $"redis://127.0.0.1:{AgentStreaming.Testing.FreePort.Next()}"], fixture.ClientEnvironment(), Deadline);
        Assert.Equal(4, client.ExitCode);
        Assert.Contains("is unreachable", client.Stderr, StringComparison.Ordinal);
        Assert.Contains("Start Redis", client.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoWorkerWithinTheDeadline_ExitsWithFive_AndSaysWhatToDo()
    {
        var environment = fixture.ClientEnvironment();
        environment["DurableAgents__Client__ConnectTimeout"] = "00:00:03";
        await using var client = await ClientProcess.RunToEndAsync(["--prompt", "hi", "--cluster-id", "nobody-" + Guid.NewGuid().ToString("N")[..8]], environment, Deadline);
        Assert.Equal(5, client.ExitCode);
        Assert.Contains("No Worker answered within 3 s", client.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", client.Stderr, StringComparison.Ordinal);
    }

    private static (string RunId, string ConversationId) RunAndConversation(string text)
    {
        var match = RunLine().Match(text);
        Assert.True(match.Success, $"No 'run … · conversation …' line in:\n{text}");
        return (match.Groups[1].Value, match.Groups[2].Value);
    }

    private static string WithFinalNewline(string text) => text.EndsWith('\n') ? text : text + "\n";

    private static string NoWhitespace(string text) => Whitespace().Replace(text, string.Empty);

    private static bool IsChrome(string line) =>
        line.StartsWith('»') || line.StartsWith("  Press Enter", StringComparison.Ordinal) || line.StartsWith("[Enter resumes", StringComparison.Ordinal);

    [GeneratedRegex(@"run ([0-9a-f]+) · conversation ([0-9a-f]+)")]
    private static partial Regex RunLine();

    [GeneratedRegex(@"» Detached from run [0-9a-f]+ at cursor (\S+);")]
    private static partial Regex DetachedCursor();

    [GeneratedRegex(@"--- reset: attempt (\d+) restarts the answer; discard the partial text above from attempt \d+ ---\n")]
    private static partial Regex ResetMarker();

    [GeneratedRegex(@"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] waiting for the answer…")]
    private static partial Regex Spinner();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
