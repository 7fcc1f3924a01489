using System.Globalization;
using AgentStreaming.Chaos.Soak;

// dotnet run -c Release --project bench/Chaos.Soak -- [--minutes 30] [--cluster] [--workers 3] [--conversations 8] [--logs DIR]
var minutes = Option("--minutes", 30.0);
var settings = new SoakSettings(
    Duration: TimeSpan.FromMinutes(minutes),
    Cluster: args.Contains("--cluster"),
    Workers: (int)Option("--workers", 3),
    Conversations: (int)Option("--conversations", 8),
    TokensPerSecond: Option("--tokens-per-second", 40),
    LogDirectory: Text("--logs"));
Console.WriteLine($"chaos soak: {settings}");
var report = await Soak.RunAsync(settings);
Console.WriteLine(report);
return report.Passed ? 0 : 1;

double Option(string name, double fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? double.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

string? Text(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
