using System.Diagnostics;

namespace AgentStreaming.Testing;

/// <summary>Polling with a deadline, for a state the test cannot be told about by an event.</summary>
public static class Poll
{
    /// <summary>How long a poll waits between two checks.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    /// <summary>Checks <paramref name="condition"/> every <paramref name="interval"/> (<see cref="Interval"/> by default) until it holds.</summary>
    /// <param name="condition">The state awaited.</param>
    /// <param name="timeout">How long it may take.</param>
    /// <param name="describe">What it means that the state never came, for the failure.</param>
    /// <param name="interval">The pause between two checks, for checks that cost more than a Redis call (a page load).</param>
    /// <returns>A task that completes when the condition holds.</returns>
    /// <exception cref="TimeoutException">It did not hold within <paramref name="timeout"/>.</exception>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> describe, TimeSpan? interval = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        ArgumentNullException.ThrowIfNull(describe);
        var waited = Stopwatch.StartNew();
        while (!await condition().ConfigureAwait(false))
        {
            if (waited.Elapsed > timeout)
            {
                throw new TimeoutException($"Not within {timeout}: {describe()}");
            }

            await Task.Delay(interval ?? Interval).ConfigureAwait(false);
        }
    }
}
