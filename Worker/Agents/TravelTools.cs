using System.ComponentModel;
using System.Globalization;
using System.IO.Hashing;
using System.Text;
using Microsoft.Extensions.AI;

namespace AgentStreaming.Worker.Agents;

/// <summary>A day's weather at a destination, as returned by <c>get_weather_forecast</c>.</summary>
public sealed record WeatherForecast(
    string Destination,
    string Date,
    string Condition,
    int HighCelsius,
    int LowCelsius,
    int ChanceOfRainPercent,
    string Advice);

/// <summary>One event at a destination, as returned by <c>get_local_events</c>.</summary>
public sealed record LocalEvent(string Name, string Category, string Venue, string Time, string Description);

/// <summary>
/// The TravelPlanner's tools. The data is mock data of our own, deterministic for a given destination and date
/// (no network, no clock), so transcripts can be compared across runs and attempts.
/// </summary>
public static class TravelTools
{
    public const string WeatherForecastToolName = "get_weather_forecast";
    public const string LocalEventsToolName = "get_local_events";

    private static readonly (string Condition, int RainPercent, string Advice)[] Conditions =
    [
        ("Sunny", 5, "Bring sunglasses and sunscreen."),
        ("Partly cloudy", 15, "A light layer is enough."),
        ("Overcast", 30, "Keep a light jacket handy."),
        ("Light showers", 60, "Pack a compact umbrella and plan an indoor backup."),
        ("Clear and breezy", 10, "Great day for viewpoints and walking tours."),
        ("Humid with afternoon clouds", 40, "Start early and take a break at midday."),
    ];

    private static readonly (string Name, string Category, string Venue, string Time, string Description)[] EventTemplates =
    [
        ("Night Food Market", "food", "the riverside promenade", "18:00–23:00", "street food stalls from across the region"),
        ("Traditional Music Evening", "culture", "the old town concert hall", "19:30", "folk ensembles and a short history talk"),
        ("Contemporary Art Walk", "art", "the gallery district", "14:00–18:00", "open studios and a guided walk"),
        ("Historic Quarter Lantern Tour", "history", "the historic quarter", "20:00", "a guided evening walk with local stories"),
        ("Farmers' Market", "food", "the central square", "08:00–13:00", "seasonal produce and regional specialities"),
        ("Botanical Garden Open Day", "nature", "the botanical garden", "10:00–16:00", "greenhouses, guided plant walks and tea"),
        ("Jazz on the Rooftop", "nightlife", "a rooftop bar downtown", "21:00", "live jazz with a view over the city"),
        ("Craft & Design Fair", "shopping", "the exhibition hall", "11:00–19:00", "local makers, ceramics and textiles"),
        ("Family Science Festival", "family", "the city museum", "10:00–17:00", "hands-on experiments for all ages"),
        ("Sunset River Cruise", "sightseeing", "the main pier", "18:30", "a one-hour cruise past the landmarks"),
    ];

    /// <summary>Creates the TravelPlanner's tools as <see cref="AIFunction"/>s.</summary>
    public static IList<AITool> Create() =>
    [
        AIFunctionFactory.Create(GetWeatherForecast, WeatherForecastToolName),
        AIFunctionFactory.Create(GetLocalEvents, LocalEventsToolName),
    ];

    [Description("Gets the weather forecast for a destination on a given date.")]
    public static WeatherForecast GetWeatherForecast(
        [Description("The destination city, e.g. 'Tokyo'.")] string destination,
        [Description("The date as yyyy-MM-dd, or a trip day such as 'day 1'.")] string date)
    {
        destination = Normalize(destination, "the destination");
        date = Normalize(date, "day 1");
        var hash = Hash(destination, date);
        var (condition, rain, advice) = Conditions[(int)(hash % (ulong)Conditions.Length)];
        var high = 14 + (int)((hash >> 8) % 15);
        var low = high - 5 - (int)((hash >> 16) % 5);
        return new WeatherForecast(destination, date, condition, high, low, rain, advice);
    }

    [Description("Gets local events (festivals, markets, concerts, exhibitions) at a destination on a given date.")]
    public static IReadOnlyList<LocalEvent> GetLocalEvents(
        [Description("The destination city, e.g. 'Tokyo'.")] string destination,
        [Description("The date as yyyy-MM-dd, or a trip day such as 'day 1'.")] string date)
    {
        destination = Normalize(destination, "the destination");
        date = Normalize(date, "day 1");
        var hash = Hash(destination, date);
        var start = (int)(hash % (ulong)EventTemplates.Length);
        var events = new List<LocalEvent>(3);
        for (var i = 0; i < 3; i++)
        {
            // Stride 3 is coprime with the template count, so the three picks are distinct.
            var t = EventTemplates[(start + (i * 3)) % EventTemplates.Length];
            events.Add(new LocalEvent($"{destination} {t.Name}", t.Category, t.Venue, t.Time, t.Description));
        }

        return events;
    }

    private static string Normalize(string? value, string fallback) =>
        string.IsNullOrWhiteSpace(value) ? fallback : value.Trim();

    private static ulong Hash(string destination, string date) =>
        XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(
            string.Create(CultureInfo.InvariantCulture, $"{destination.ToUpperInvariant()}|{date.ToUpperInvariant()}")));
}
