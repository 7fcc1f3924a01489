using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;

namespace AgentStreaming.Worker.Agents;

/// <summary>The TravelPlanner agent: instructions, tools and a factory.</summary>
public static class TravelPlannerAgent
{
    public const string Name = "TravelPlanner";

    public const string Description = "Plans day-by-day trips using weather forecasts and local events.";

    public const string Instructions = """
        You are TravelPlanner, an expert travel planner who builds detailed, practical itineraries.

        When a user asks for a trip:
        1. Work out the destination, the number of days (default 3) and the traveller's interests.
        2. Call get_weather_forecast and get_local_events for the destination before you write the plan,
           and use what they return: schedule outdoor activities for good weather, suggest indoor
           alternatives for rain, and weave the local events into the days they happen.
        3. Write a day-by-day itinerary with morning, afternoon and evening suggestions, including food
           recommendations and rough travel times between places.
        4. Finish with practical tips (transport, money, etiquette, what to pack).

        Format the answer in Markdown: a title heading, one `##` heading per day, bullet lists for the
        activities, and tasteful emoji to make it lively. Be enthusiastic but concrete, and do not invent
        weather or events that the tools did not return.
        """;

    /// <summary>
    /// Creates the TravelPlanner as a <see cref="ChatClientAgent"/> over <paramref name="chatClient"/>.
    /// </summary>
    /// <remarks>
    /// The agent wraps <paramref name="chatClient"/> in a <see cref="FunctionInvokingChatClient"/> itself (unless
    /// the client already contains one), so tool calls the model returns are executed by the agent's own
    /// function-invocation loop and the results sent back to the model.
    /// </remarks>
    public static AIAgent Create(
        IChatClient chatClient,
        ILoggerFactory? loggerFactory = null,
        IServiceProvider? services = null)
    {
        ArgumentNullException.ThrowIfNull(chatClient);

        var options = new ChatClientAgentOptions
        {
            Name = Name,
            Description = Description,
            ChatOptions = new ChatOptions
            {
                Instructions = Instructions,
                Tools = TravelTools.Create(),
            },
        };

        return new ChatClientAgent(chatClient, options, loggerFactory, services);
    }
}
