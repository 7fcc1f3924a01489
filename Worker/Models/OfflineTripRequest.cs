using System.Globalization;
using System.Text.RegularExpressions;

namespace AgentStreaming.Worker.Models;

/// <summary>
/// What the offline demo model understands of a travel request: destination, days, interests and start date,
/// parsed with simple patterns and sensible defaults (Tokyo, 3 days, sightseeing and food).
/// </summary>
internal sealed partial record OfflineTripRequest(string Destination, int Days, IReadOnlyList<string> Interests, string Date)
{
    public const string DefaultDestination = "Tokyo";
    public const int DefaultDays = 3;
    public const int MaxDays = 10;
    public const string DefaultDate = "day 1";

    private static readonly string[] DefaultInterests = ["sightseeing", "food"];

    private static readonly string[] KnownDestinations =
    [
        "New York", "San Francisco", "Los Angeles", "Rio de Janeiro", "Buenos Aires", "Mexico City", "Hong Kong",
        "Cape Town", "Tokyo", "Kyoto", "Osaka", "Seoul", "Paris", "London", "Rome", "Barcelona", "Madrid", "Lisbon",
        "Amsterdam", "Berlin", "Vienna", "Prague", "Budapest", "Istanbul", "Athens", "Dubai", "Bangkok", "Singapore",
        "Sydney", "Melbourne", "Seattle", "Chicago", "Toronto", "Vancouver", "Reykjavik", "Marrakech", "Copenhagen",
        "Stockholm", "Oslo", "Dublin", "Edinburgh", "Florence", "Venice", "Bali", "Hanoi", "Taipei",
    ];

    private static readonly (string Interest, string[] Keywords)[] InterestKeywords =
    [
        ("culture", ["culture", "cultural", "temple", "tradition", "shrine"]),
        ("food", ["food", "culinary", "cuisine", "eat", "restaurant", "foodie", "dining"]),
        ("history", ["history", "historic", "museum", "heritage"]),
        ("art", ["art", "gallery", "galleries", "design", "architecture"]),
        ("nature", ["nature", "hiking", "hike", "park", "outdoor", "garden", "mountain"]),
        ("nightlife", ["nightlife", "bars", "clubs", "night life"]),
        ("shopping", ["shopping", "shop", "markets", "fashion"]),
        ("family", ["family", "kids", "children"]),
        ("relaxation", ["relax", "relaxing", "spa", "beach", "slow"]),
    ];

    private static readonly Dictionary<string, int> NumberWords = new(StringComparer.OrdinalIgnoreCase)
    {
        ["one"] = 1, ["two"] = 2, ["three"] = 3, ["four"] = 4, ["five"] = 5,
        ["six"] = 6, ["seven"] = 7, ["eight"] = 8, ["nine"] = 9, ["ten"] = 10,
    };

    private static readonly HashSet<string> NotDestinations = new(StringComparer.OrdinalIgnoreCase)
    {
        "I", "Me", "My", "The", "A", "An", "Day", "Days", "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December", "Monday", "Tuesday", "Wednesday",
        "Thursday", "Friday", "Saturday", "Sunday", "Spring", "Summer", "Autumn", "Fall", "Winter",
    };

    /// <summary>
    /// Parses the user messages of a conversation, newest first: each field comes from the newest message that
    /// states it, so "make it 5 days" keeps the destination of an earlier turn.
    /// </summary>
    public static OfflineTripRequest Parse(IEnumerable<string> userMessagesNewestFirst)
    {
        string? destination = null;
        int? days = null;
        IReadOnlyList<string>? interests = null;
        string? date = null;

        foreach (var message in userMessagesNewestFirst)
        {
            destination ??= ParseDestination(message);
            days ??= ParseDays(message);
            interests ??= ParseInterests(message);
            date ??= ParseDate(message);
        }

        return new OfflineTripRequest(
            destination ?? DefaultDestination,
            days ?? DefaultDays,
            interests ?? DefaultInterests,
            date ?? DefaultDate);
    }

    internal static string? ParseDestination(string text)
    {
        var best = -1;
        string? found = null;
        foreach (var known in KnownDestinations)
        {
            var match = Regex.Match(text, $@"\b{Regex.Escape(known)}\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
            if (match.Success && (best < 0 || match.Index < best))
            {
                best = match.Index;
                found = known;
            }
        }

        if (found is not null)
        {
            return found;
        }

        foreach (Match match in DestinationPattern().Matches(text))
        {
            var words = match.Groups["d"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .SkipWhile(NotDestinations.Contains)
                .ToList();
            while (words.Count > 0 && (NotDestinations.Contains(words[^1]) || char.IsLower(words[^1][0])))
            {
                words.RemoveAt(words.Count - 1);
            }

            if (words.Count > 0)
            {
                return string.Join(' ', words).TrimEnd('.', '\'', '’', '-');
            }
        }

        return null;
    }

    internal static int? ParseDays(string text)
    {
        var match = DaysPattern().Match(text);
        if (match.Success)
        {
            var value = match.Groups["n"].Value;
            var days = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : NumberWords[value];
            return Math.Clamp(days, 1, MaxDays);
        }

        if (WeekendPattern().IsMatch(text))
        {
            return 2;
        }

        return WeekPattern().IsMatch(text) ? 7 : null;
    }

    internal static IReadOnlyList<string>? ParseInterests(string text)
    {
        var found = new List<(int Index, string Interest)>();
        foreach (var (interest, keywords) in InterestKeywords)
        {
            var index = keywords
                .Select(k => Regex.Match(text, $@"\b{Regex.Escape(k)}", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant))
                .Where(m => m.Success)
                .Select(m => m.Index)
                .DefaultIfEmpty(-1)
                .Min();
            if (index >= 0)
            {
                found.Add((index, interest));
            }
        }

        return found.Count == 0 ? null : found.OrderBy(f => f.Index).Select(f => f.Interest).ToList();
    }

    internal static string? ParseDate(string text)
    {
        var match = DatePattern().Match(text);
        return match.Success
            && DateOnly.TryParseExact(match.Value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _)
            ? match.Value
            : null;
    }

    [GeneratedRegex(@"\b(?:to|in|visit|visiting|around|explore|exploring)\s+(?<d>\p{Lu}[\p{L}'’.-]*(?:\s+(?:\p{Lu}[\p{L}'’.-]*|de|del|la|di|da))*)", RegexOptions.CultureInvariant)]
    private static partial Regex DestinationPattern();

    [GeneratedRegex(@"\b(?<n>\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)[\s-]*(?:day|days|night|nights)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex DaysPattern();

    [GeneratedRegex(@"\bweekend\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex WeekendPattern();

    [GeneratedRegex(@"\bweek\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex WeekPattern();

    [GeneratedRegex(@"\b\d{4}-\d{2}-\d{2}\b", RegexOptions.CultureInvariant)]
    private static partial Regex DatePattern();
}
