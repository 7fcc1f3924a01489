using System.Globalization;
using AgentStreaming.Testing;

namespace AgentStreaming.Streaming.Tests;

/// <summary>
/// The shared fixtures' bounded process waits (<see cref="ProcessExits"/>), which every process test relies on to fail
/// instead of hanging: a real <c>bash</c> that leaves a child holding its output, and one that runs past its timeout.
/// </summary>
public sealed class ProcessExitsTests
{
    [Fact]
    public async Task RunAsync_AProgramWhoseChildKeepsItsOutputOpen_EndsAtTheProgramsExit_WithItsOutput()
    {
        // The background sleep inherits bash's stdout and stderr: waiting for their end would wait for the sleep.
        var run = ProcessExits.RunAsync("bash", ["-c", "sleep 60 & echo $!; printf 'last line, no newline'"], TimeSpan.FromSeconds(30));
        var result = await run.WaitAsync(TimeSpan.FromSeconds(20));
        var child = int.Parse(result.Stdout.Split('\n')[0], CultureInfo.InvariantCulture);
        try
        {
            Assert.Equal(0, result.ExitCode);
            Assert.EndsWith("\nlast line, no newline", result.Stdout, StringComparison.Ordinal);
            Assert.True(Directory.Exists($"/proc/{child}"), "The child that holds the output should still run.");
        }
        finally
        {
            ProcessExits.Kill(child);
        }
    }

    [Fact]
    public async Task RunAsync_PastItsTimeout_KillsTheProgram_AndNamesItWithItsOutput()
    {
        var run = ProcessExits.RunAsync("bash", ["-c", "echo $$; exec sleep 60"], TimeSpan.FromSeconds(1));

        var error = await Assert.ThrowsAsync<TimeoutException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Contains("'bash -c echo $$; exec sleep 60' did not finish within 1 s", error.Message, StringComparison.Ordinal);
        var pid = int.Parse(error.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last().Trim(), CultureInfo.InvariantCulture);
        Assert.False(Directory.Exists($"/proc/{pid}"), $"The timed-out program (pid {pid}) is still there.");
    }
}
