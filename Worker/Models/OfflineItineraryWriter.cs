using System.Globalization;
using System.Text;
using AgentStreaming.Worker.Agents;

namespace AgentStreaming.Worker.Models;

/// <summary>Writes the offline demo model's markdown itinerary from a trip request and the tool results.</summary>
internal static class OfflineItineraryWriter
{
    private sealed record CityGuide(string Emoji, string[] Landmarks, string[] Dishes, string[] Areas);

    private sealed record Slots(string Theme, string Morning, string Afternoon, string Evening);

    private static readonly CityGuide Generic = new(
        "🧭",
        ["the old town", "the main cathedral square", "the city museum", "the hilltop viewpoint", "the harbour front"],
        ["the local speciality", "a street-food favourite", "a seasonal tasting menu", "regional pastries"],
        ["the historic centre", "the creative district", "the riverside quarter", "the market district"]);

    private static readonly Dictionary<string, CityGuide> Guides = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Tokyo"] = new("🗾",
            ["Senso-ji Temple", "Meiji Shrine", "the Tokyo National Museum", "teamLab Planets", "the Imperial Palace East Gardens"],
            ["sushi at Tsukiji Outer Market", "ramen in a Shinjuku alley", "yakitori under the Yurakucho tracks", "a kaiseki dinner"],
            ["Asakusa", "Harajuku", "Shibuya", "Yanaka", "Shimokitazawa"]),
        ["Kyoto"] = new("⛩️",
            ["Fushimi Inari Taisha", "Kinkaku-ji", "the Arashiyama bamboo grove", "Kiyomizu-dera", "Nijo Castle"],
            ["tofu kaiseki", "matcha sweets in Uji", "Nishiki Market snacks", "obanzai home cooking"],
            ["Gion", "Higashiyama", "Pontocho", "Arashiyama"]),
        ["Paris"] = new("🗼",
            ["the Louvre", "Musée d'Orsay", "Sainte-Chapelle", "Montmartre and Sacré-Cœur", "the Jardin du Luxembourg"],
            ["croissants from a neighbourhood boulangerie", "a bistro steak-frites", "cheese at Marché d'Aligre", "falafel in the Marais"],
            ["Le Marais", "Saint-Germain", "Montmartre", "Canal Saint-Martin"]),
        ["London"] = new("🎡",
            ["the British Museum", "the Tower of London", "Tate Modern", "Westminster Abbey", "Hampstead Heath"],
            ["Borough Market bites", "a Sunday roast", "curry on Brick Lane", "afternoon tea"],
            ["South Bank", "Shoreditch", "Covent Garden", "Notting Hill"]),
        ["Rome"] = new("🏛️",
            ["the Colosseum", "the Vatican Museums", "the Pantheon", "the Roman Forum", "Villa Borghese"],
            ["cacio e pepe in Trastevere", "supplì from a friggitoria", "gelato near Piazza Navona", "carciofi alla giudia"],
            ["Trastevere", "Monti", "the Jewish Ghetto", "Testaccio"]),
        ["New York"] = new("🗽",
            ["the Metropolitan Museum of Art", "Central Park", "the High Line", "the Statue of Liberty", "MoMA"],
            ["a bagel with lox", "pizza by the slice", "dumplings in Chinatown", "a deli pastrami sandwich"],
            ["the West Village", "Williamsburg", "the Lower East Side", "Harlem"]),
        ["Lisbon"] = new("🚋",
            ["the Jerónimos Monastery", "São Jorge Castle", "the Belém Tower", "the MAAT museum", "the Alfama viewpoints"],
            ["pastéis de nata", "grilled sardines", "a bifana sandwich", "seafood at Time Out Market"],
            ["Alfama", "Bairro Alto", "Príncipe Real", "LX Factory"]),
        ["Barcelona"] = new("🏖️",
            ["the Sagrada Família", "Park Güell", "the Picasso Museum", "the Gothic Quarter", "Montjuïc"],
            ["tapas at La Boqueria", "a seafood paella", "pintxos in El Born", "churros with chocolate"],
            ["El Born", "Gràcia", "Barceloneta", "El Raval"]),
    };

    private static readonly Dictionary<string, (string Emoji, Func<CityGuide, int, Slots> Slots)> Themes = new()
    {
        ["culture"] = ("🎎", (g, d) => new Slots(
            "Culture & Traditions",
            $"Visit {Pick(g.Landmarks, d)} early, before the crowds arrive.",
            $"Wander {Pick(g.Areas, d)} and join a hands-on craft or tea workshop.",
            $"Enjoy a traditional performance, then dinner with {Pick(g.Dishes, d)}.")),
        ["food"] = ("🍜", (g, d) => new Slots(
            "Food & Markets",
            $"Breakfast crawl through the markets of {Pick(g.Areas, d + 1)}.",
            $"Take a cooking class and learn to make {Pick(g.Dishes, d + 1)}.",
            $"Food tour of {Pick(g.Areas, d + 2)} with {Pick(g.Dishes, d + 2)} as the highlight.")),
        ["history"] = ("🏯", (g, d) => new Slots(
            "History & Heritage",
            $"Guided tour of {Pick(g.Landmarks, d + 1)}.",
            $"Explore {Pick(g.Landmarks, d + 2)} and the stories behind it.",
            $"Evening walk through {Pick(g.Areas, d)} with a historian-led tour.")),
        ["art"] = ("🎨", (g, d) => new Slots(
            "Art & Design",
            $"Start at {Pick(g.Landmarks, d + 3)} for the collections.",
            $"Browse the galleries and design shops of {Pick(g.Areas, d + 1)}.",
            $"Catch a late opening or a gallery talk, then dinner nearby.")),
        ["nature"] = ("🌿", (g, d) => new Slots(
            "Parks & Green Escapes",
            $"Morning stroll through the parks and gardens around {Pick(g.Areas, d)}.",
            "Half-day hike or bike ride to a scenic viewpoint outside the centre.",
            $"Sunset from a viewpoint, then a relaxed dinner with {Pick(g.Dishes, d)}.")),
        ["nightlife"] = ("🌃", (g, d) => new Slots(
            "After Dark",
            "Slow morning and brunch to save energy.",
            $"Explore the independent shops of {Pick(g.Areas, d + 2)}.",
            $"Bar-hop through {Pick(g.Areas, d + 3)} and catch live music.")),
        ["shopping"] = ("🛍️", (g, d) => new Slots(
            "Markets & Shopping",
            $"Browse the morning market in {Pick(g.Areas, d)}.",
            $"Boutiques and local makers in {Pick(g.Areas, d + 1)}.",
            $"Dinner with {Pick(g.Dishes, d + 1)} to celebrate your finds.")),
        ["family"] = ("👨‍👩‍👧", (g, d) => new Slots(
            "Family Fun",
            $"Interactive exhibits at {Pick(g.Landmarks, d + 2)}.",
            "Picnic and playground time in a big city park.",
            $"Early, casual dinner with {Pick(g.Dishes, d)}.")),
        ["relaxation"] = ("🧖", (g, d) => new Slots(
            "Slow Travel",
            "Lazy breakfast at a neighbourhood café.",
            "Spa, bathhouse or beach afternoon.",
            $"Unhurried dinner with {Pick(g.Dishes, d + 3)}.")),
        ["sightseeing"] = ("📸", (g, d) => new Slots(
            "Icons & Highlights",
            $"See {Pick(g.Landmarks, d)} as it opens.",
            $"Walk to {Pick(g.Landmarks, d + 1)} via {Pick(g.Areas, d)}.",
            $"Golden-hour photos from a rooftop, then dinner with {Pick(g.Dishes, d)}.")),
    };

    public static string Write(OfflineTripRequest request, WeatherForecast? weather, string? weatherText, IReadOnlyList<LocalEvent>? events, string? eventsText)
    {
        var guide = Guides.TryGetValue(request.Destination, out var known) ? known : Generic;
        var text = new StringBuilder();

        Line(text, $"# {guide.Emoji} Your {request.Days}-Day {request.Destination} Adventure!");
        Line(text);
        Line(text, $"Here is a day-by-day plan for {request.Destination} with a focus on {Join(request.Interests)}. "
            + "I checked the weather and what's on locally so the plan fits your dates. ✨");
        Line(text);

        Line(text, "## 🌤️ Weather Outlook");
        Line(text);
        if (weather is not null)
        {
            Line(text, $"- **{Capitalize(weather.Date)}:** {weather.Condition}, high {weather.HighCelsius}°C / low {weather.LowCelsius}°C, "
                + $"{weather.ChanceOfRainPercent}% chance of rain.");
            Line(text, $"- 🎒 {weather.Advice}");
            if (weather.ChanceOfRainPercent >= 50)
            {
                Line(text, "- ☔ Rain is likely, so indoor alternatives are marked below.");
            }
        }
        else
        {
            Line(text, weatherText is null ? "- No forecast was available, so pack layers to be safe." : $"- {weatherText}");
        }

        Line(text);
        Line(text, "## 🎉 Local Events");
        Line(text);
        if (events is { Count: > 0 })
        {
            foreach (var e in events)
            {
                Line(text, $"- **{e.Name}** at {e.Venue} ({e.Time}): {e.Description}.");
            }
        }
        else
        {
            Line(text, eventsText is null ? "- No events were listed; ask your hotel what's on." : $"- {eventsText}");
        }

        var rainy = weather is { ChanceOfRainPercent: >= 50 };
        for (var day = 1; day <= request.Days; day++)
        {
            var interest = request.Interests[(day - 1) % request.Interests.Count];
            var (emoji, slotsFor) = Themes.TryGetValue(interest, out var theme) ? theme : Themes["sightseeing"];
            var slots = slotsFor(guide, day - 1);
            var title = request.Days == 1 ? slots.Theme
                : day == 1 ? $"Arrival · {slots.Theme}"
                : day == request.Days ? $"{slots.Theme} · Farewell"
                : slots.Theme;

            Line(text);
            Line(text, $"## Day {day}: {title} {emoji}");
            Line(text);
            Line(text, $"- 🌅 **Morning:** {(day == 1 ? "Check in, drop your bags and get your bearings. " : string.Empty)}{slots.Morning}");
            Line(text, $"- ☀️ **Afternoon:** {slots.Afternoon}"
                + (day == 1 && rainy ? $" If it rains, head indoors to {Pick(guide.Landmarks, 2)} instead." : string.Empty));
            Line(text, $"- 🌙 **Evening:** {slots.Evening}");
            if (events is { Count: > 0 } && day <= events.Count)
            {
                var e = events[day - 1];
                Line(text, $"- 🎟️ **Don't miss:** {e.Name} at {e.Venue} ({e.Time}).");
            }
        }

        Line(text);
        Line(text, "## 💡 Practical Tips");
        Line(text);
        Line(text, $"- 🚇 Get a public-transport pass on arrival; most of {request.Destination} is best reached by metro and on foot.");
        Line(text, "- 💳 Carry a card and a little cash for markets and small eateries.");
        Line(text, "- 🗓️ Book popular sights and restaurants a few days ahead.");
        text.Append(CultureInfo.InvariantCulture, $"- 🙏 Learn a few words of the local language; it goes a long way. Enjoy {request.Destination}! 🌏");
        return text.ToString();
    }

    private static string Capitalize(string text) =>
        text.Length == 0 ? text : string.Concat(char.ToUpperInvariant(text[0]).ToString(), text.AsSpan(1));

    private static string Pick(string[] items, int index) => items[index % items.Length];

    private static string Join(IReadOnlyList<string> items) => items.Count switch
    {
        1 => items[0],
        2 => $"{items[0]} and {items[1]}",
        _ => $"{string.Join(", ", items.Take(items.Count - 1))} and {items[^1]}",
    };

    private static void Line(StringBuilder text, string line = "") => text.Append(line).Append('\n');
}
