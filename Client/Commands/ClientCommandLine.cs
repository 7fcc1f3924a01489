using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using AgentStreaming.DurableAgents;
using AgentStreaming.Streaming.Streams;
using Microsoft.Extensions.Hosting;

namespace AgentStreaming.Client.Commands;

/// <summary>The command line: options, their validation, <c>--help</c> (with the exit codes) and dispatch.</summary>
internal static class ClientCommandLine
{
    /// <summary>Parses <paramref name="args"/> and runs the client.</summary>
    /// <param name="args">The process arguments.</param>
    /// <returns>The exit code (see <see cref="ExitCodes"/>).</returns>
    public static async Task<int> InvokeAsync(string[] args)
    {
        var prompt = new Option<string>("--prompt", "-p")
        {
            Description = "Run one turn with this message, stream the answer, then exit (one-shot). Without it the client chats interactively (or reads one message per line from piped stdin).",
            HelpName = "message",
        };
        var conversation = new Option<string>("--conversation", "-c")
        {
            Description = "Continue this existing conversation (its id is printed when a chat starts) instead of starting a new one.",
            HelpName = "id",
        };
        var wait = new Option<bool>("--wait")
        {
            Description = "Wait-for-response mode: the Worker answers when the run has finished, then the answer is printed. Default: fire-and-forget, streamed live.",
        };
        var run = new Option<string>("--run")
        {
            Description = "Stream an existing run (started by any process, running or finished) from Redis; needs no Worker.",
            HelpName = "run-id",
        };
        var cursor = new Option<string>("--cursor")
        {
            Description = "With --run: resume after this stream entry id (the cursor printed when you detached, e.g. 1734649123456-0). Default: from the start.",
            HelpName = "entry-id",
        };
        var json = new Option<bool>("--json")
        {
            Description = "Write one JSON object per stream entry to stdout: {kind, text, cursor, sequence, attempt, runId[, error, data]}. No colors, no prompts, no spinner.",
        };
        var redis = new Option<string>("--redis")
        {
            Description = "Redis connection string ('host:port[,options]' or 'redis://[:password@]host:port[/db]'). Overrides ConnectionStrings__redis and REDIS_CONNECTION_STRING.",
            HelpName = "connection-string",
        };
        var clusterId = new Option<string>("--cluster-id")
        {
            Description = $"The Orleans cluster id the Workers use. Default: configuration Orleans:ClusterId, else '{DurableAgentsOrleansExtensions.DefaultClusterId}'.",
            HelpName = "id",
        };

        var root = new RootCommand(
            "AgentStreaming client: chat with the TravelPlanner agent. Each turn starts a durable run on a Worker and streams " +
            "its answer live from the run's Redis Stream. While an answer streams, Enter (or Ctrl+C once) detaches without " +
            "stopping the run and prints its run id and cursor; the next Enter resumes exactly where it stopped. At the prompt: " +
            "/cancel cancels the current run, /status shows ids, /quit exits.")
        {
            prompt, conversation, wait, run, cursor, json, redis, clusterId,
        };
        root.Validators.Add(result =>
        {
            if (result.GetResult(cursor) is not null && result.GetResult(run) is null)
            {
                result.AddError("--cursor needs --run: it says where to resume reading that run.");
            }

            if (result.GetResult(run) is not null)
            {
                foreach (var other in new Option[] { prompt, conversation, wait })
                {
                    if (result.GetResult(other) is not null)
                    {
                        result.AddError($"--run streams an existing run; it cannot be combined with {other.Name}.");
                    }
                }

                if (result.GetValue(run) is { } runId && !RunIds.IsValid(runId))
                {
                    result.AddError($"'{Printable(runId)}' is not a run id: run ids are 1 to 128 letters, digits, '-', '_' or '.'.");
                }
            }

            if (result.GetValue(cursor) is { } value && !StreamCursor.TryParse(value, out _))
            {
                try
                {
                    StreamCursor.Parse(value);
                }
                catch (ArgumentException ex)
                {
                    result.AddError(ex.Message.Split(" (Parameter", 2)[0]);
                }
            }

            if (result.GetResult(prompt) is not null && string.IsNullOrWhiteSpace(result.GetValue(prompt)))
            {
                result.AddError("--prompt needs a non-empty message.");
            }
        });

        foreach (var option in root.Options)
        {
            if (option is HelpOption { Action: HelpAction help } helpOption)
            {
                helpOption.Action = new HelpWithExitCodes(help);
            }
        }

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
            {
                await Console.Error.WriteLineAsync($"error: {error.Message}");
            }

            await Console.Error.WriteLineAsync("Run with --help to see the options.");
            return ExitCodes.BadArguments;
        }

        root.SetAction((result, cancellationToken) => ClientApp.RunAsync(new ClientSettings
        {
            Prompt = result.GetValue(prompt),
            ConversationId = result.GetValue(conversation),
            Wait = result.GetValue(wait),
            RunId = result.GetValue(run),
            Cursor = result.GetValue(cursor),
            Json = result.GetValue(json),
            Redis = result.GetValue(redis),
            ClusterId = result.GetValue(clusterId),
        }, cancellationToken));

        // Ctrl+C is the client's own (it detaches a live view); the default exception handler would print a stack trace.
        return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
    }

    private static string Printable(string value)
        => string.Concat((value.Length > 64 ? value[..64] + "…" : value).Select(c => char.IsControl(c) ? '?' : c));

    /// <summary>The standard help, followed by the exit codes.</summary>
    private sealed class HelpWithExitCodes(HelpAction inner) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            inner.Invoke(parseResult);
            var output = parseResult.InvocationConfiguration.Output;
            output.WriteLine("Configuration:");
            output.WriteLine("  ConnectionStrings__redis or REDIS_CONNECTION_STRING   Redis (--redis overrides)");
            output.WriteLine("  Orleans__ClusterId                                    cluster id (--cluster-id overrides)");
            output.WriteLine("  DurableAgents__Client__ConnectTimeout                 how long to look for a Worker (default 00:00:30)");
            output.WriteLine();
            output.WriteLine("Exit codes:");
            foreach (var (code, meaning) in ExitCodes.Table)
            {
                output.WriteLine($"  {code,-5}{meaning}");
            }

            output.WriteLine();
            return ExitCodes.Success;
        }
    }
}
