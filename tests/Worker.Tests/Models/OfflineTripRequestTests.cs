using AgentStreaming.Worker.Models;

namespace AgentStreaming.Worker.Tests;

public sealed class OfflineTripRequestTests
{
    [Fact]
    public void Parse_SamplePrompt_FindsDestinationDaysAndInterests()
    {
        var request = OfflineTripRequest.Parse(["Plan a 3-day trip to Tokyo with emphasis on culture and food"]);

        Assert.Equal("Tokyo", request.Destination);
        Assert.Equal(3, request.Days);
        Assert.Equal(["culture", "food"], request.Interests);
        Assert.Equal("day 1", request.Date);
    }

    [Fact]
    public void Parse_EmptyPrompt_UsesDefaults()
    {
        var request = OfflineTripRequest.Parse([""]);

        Assert.Equal(OfflineTripRequest.DefaultDestination, request.Destination);
        Assert.Equal(OfflineTripRequest.DefaultDays, request.Days);
        Assert.Equal(["sightseeing", "food"], request.Interests);
    }

    [Theory]
    [InlineData("A weekend in Porto in May", "Porto", 2)]
    [InlineData("Five days exploring Ho Chi Minh City", "Ho Chi Minh City", 5)]
    [InlineData("I want to visit Rio de Janeiro for a week", "Rio de Janeiro", 7)]
    [InlineData("Trip to Zanzibar for 30 days", "Zanzibar", OfflineTripRequest.MaxDays)]
    [InlineData("plan something in new york for 2 nights", "New York", 2)]
    public void Parse_VariousPhrasings_FindsDestinationAndDays(string prompt, string destination, int days)
    {
        var request = OfflineTripRequest.Parse([prompt]);

        Assert.Equal(destination, request.Destination);
        Assert.Equal(days, request.Days);
    }

    [Fact]
    public void Parse_IsoDateInPrompt_UsesItAsDate()
    {
        var request = OfflineTripRequest.Parse(["Paris from 2026-05-01 for 2 days"]);

        Assert.Equal("2026-05-01", request.Date);
    }
}
