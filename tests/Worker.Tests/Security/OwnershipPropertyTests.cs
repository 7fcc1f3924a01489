using System.Net;
using System.Net.Http.Json;
using AgentStreaming.DurableAgents;
using AgentStreaming.Streaming.Streams;
using AgentStreaming.Worker.Api.Tests;
using CsCheck;

namespace AgentStreaming.Worker.Security.Tests;

/// <summary>
/// On the secured Worker: a principal reaches only its own runs and conversations, on every route; another principal's
/// id is answered exactly as an id that does not exist (status, content type, body), so ids cannot be probed.
/// </summary>
public sealed class OwnershipPropertyTests(ApiFixture fixture)
{
    private const string Agent = TestRuns.Agent;

    /// <summary>Every route that takes a run or conversation id, as (name, request for run id and conversation id).</summary>
    private static readonly (string Name, Func<string, string, HttpRequestMessage> Request)[] Routes =
    [
        ("GET run", (run, _) => Get($"/agents/{Agent}/runs/{run}")),
        ("GET stream (SSE)", (run, _) => Get($"/agents/{Agent}/runs/{run}/stream", "text/event-stream")),
        ("GET stream (text/plain)", (run, _) => Get($"/agents/{Agent}/runs/{run}/stream", "text/plain")),
        ("GET stream (Last-Event-ID)", (run, _) => WithHeader(Get($"/agents/{Agent}/runs/{run}/stream", "text/event-stream"), "Last-Event-ID", "1-0")),
        ("GET stream (?cursor=)", (run, _) => Get($"/agents/{Agent}/runs/{run}/stream?cursor=1-0", "text/event-stream")),
        ("POST cancel", (run, _) => new HttpRequestMessage(HttpMethod.Post, $"/agents/{Agent}/runs/{run}/cancel")),
        ("GET conversation", (_, conversation) => Get($"/agents/{Agent}/conversations/{conversation}")),
        ("POST run in conversation", (_, conversation) => new HttpRequestMessage(HttpMethod.Post, $"/agents/{Agent}/runs") { Content = JsonContent.Create(new { message = "Plan 1 day in Ghent", conversationId = conversation }) }),
        ("GET response", (run, _) => Get($"/v1/responses/resp_{run}")),
        ("GET response stream", (run, _) => Get($"/v1/responses/resp_{run}?stream=true", "text/event-stream")),
        ("GET response stream (starting_after)", (run, _) => Get($"/v1/responses/resp_{run}?stream=true&starting_after=2", "text/event-stream")),
        ("POST response cancel", (run, _) => new HttpRequestMessage(HttpMethod.Post, $"/v1/responses/resp_{run}/cancel")),
        ("GET response input_items", (run, _) => Get($"/v1/responses/resp_{run}/input_items")),
        ("POST response (previous_response_id)", (run, _) => new HttpRequestMessage(HttpMethod.Post, "/v1/responses") { Content = JsonContent.Create(new { model = Agent, input = "And day 2?", previous_response_id = "resp_" + run }) }),
    ];

    /// <summary>A principal: a token of a random subject, or a named key sent either way.</summary>
    private static readonly Gen<Credential> Principals = Gen.OneOf(
        Gen.String[Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789"], 4, 12].Select(s => Credential.Jwt("user-" + s)),
        Gen.OneOf(Gen.Const("alice"), Gen.Const("bob")).Select(p => Credential.HeaderKey(p)),
        Gen.OneOf(Gen.Const("alice"), Gen.Const("bob")).Select(p => Credential.BearerKey(p)));

    [Fact]
    public async Task AnotherPrincipalsIds_OnEveryRoute_AnswerExactlyAsUnknownIds_TheOwnerAndAdminsReachThem()
    {
        var baseAddress = await fixture.SecuredWorkerAsync();
        using var http = ApiFixture.Client(baseAddress);
        var admins = new[] { Credential.HeaderKey(TestTokens.AdminKeyPrincipal), Credential.Jwt("admin-" + Guid.NewGuid().ToString("N")[..8], TestTokens.AdminRole) };

        await Gen.Select(Principals, Principals, Gen.Int[0, Routes.Length - 1].Array[3, 6])
            .Where((owner, other, _) => owner.Principal != other.Principal)
            .SampleAsync(async (owner, other, routes) =>
            {
                var (runId, conversationId) = await owner.StartAsync(http, "Plan 1 day in Antwerp");

                foreach (var index in routes.Distinct())
                {
                    var (name, request) = Routes[index];
                    var unknownRun = RunIds.New();
                    var unknownConversation = DurableAgentNames.NewConversationId();
                    using var foreign = await other.SendAsync(http, request(runId, conversationId));
                    using var unknown = await other.SendAsync(http, request(unknownRun, unknownConversation));
                    var foreignAnswer = await Answer.ReadAsync(foreign, runId, conversationId);
                    var unknownAnswer = await Answer.ReadAsync(unknown, unknownRun, unknownConversation);

                    Assert.True(foreignAnswer == unknownAnswer, $"{name}: {other.Principal} ({other.Kind}) on {owner.Principal}'s ids answered {foreignAnswer}, on unknown ids {unknownAnswer}.");
                    Assert.True(foreignAnswer.Status is 404, $"{name} answered {foreignAnswer}.");
                }

                using var own = await owner.GetAsync(http, $"/agents/{Agent}/runs/{runId}");
                using var ownConversation = await owner.GetAsync(http, $"/agents/{Agent}/conversations/{conversationId}");
                using var ownResponse = await owner.GetAsync(http, $"/v1/responses/resp_{runId}/input_items");
                Assert.Equal(HttpStatusCode.OK, own.StatusCode);
                Assert.Equal(HttpStatusCode.OK, ownConversation.StatusCode);
                Assert.Equal(HttpStatusCode.OK, ownResponse.StatusCode);

                var ownList = await owner.ListAsync(http);
                var otherList = await other.ListAsync(http);
                Assert.Equal(owner.Principal, ownList.Principal);
                Assert.False(ownList.Admin);
                Assert.Contains(conversationId, ownList.Conversations);
                Assert.Equal(other.Principal, otherList.Principal);
                Assert.DoesNotContain(conversationId, otherList.Conversations);

                foreach (var admin in admins)
                {
                    using var seen = await admin.GetAsync(http, $"/agents/{Agent}/runs/{runId}");
                    Assert.Equal(HttpStatusCode.OK, seen.StatusCode);
                    var adminList = await admin.ListAsync(http);
                    Assert.True(adminList.Admin);
                    Assert.Contains(conversationId, adminList.Conversations);
                }
            }, iter: 12, threads: 1);
    }

    [Fact]
    public async Task AnotherPrincipalsIds_OnEveryRoute_AnswerInTheSameTimeClassAsUnknownIds()
    {
        // Interleaved, so that load on the machine falls on both sides alike; medians, so that one slow request does not
        // decide. A foreign id that cost the Worker a grain call or a stream read more than an unknown one (a few ms
        // against about one) would fall outside the bounds; equal work keeps the medians within them.
        const int Samples = 15;
        var baseAddress = await fixture.SecuredWorkerAsync();
        using var http = ApiFixture.Client(baseAddress);
        var owner = Credential.Jwt("user-" + Guid.NewGuid().ToString("N")[..8]);
        var other = Credential.HeaderKey("bob");
        var (runId, conversationId) = await owner.StartAsync(http, "Plan 1 day in Mons");

        foreach (var (name, request) in Routes)
        {
            var foreign = new List<double>(Samples);
            var unknown = new List<double>(Samples);
            for (var i = 0; i < Samples; i++)
            {
                foreign.Add(await TimeAsync(() => other.SendAsync(http, request(runId, conversationId))));
                unknown.Add(await TimeAsync(() => other.SendAsync(http, request(RunIds.New(), DurableAgentNames.NewConversationId()))));
            }

            var (foreignMedian, unknownMedian) = (Median(foreign), Median(unknown));
            Assert.True(
                foreignMedian <= (unknownMedian * 2) + 2 && unknownMedian <= (foreignMedian * 2) + 2,
                $"{name}: another principal's ids took {foreignMedian:0.00} ms (median of {Samples}), unknown ids {unknownMedian:0.00} ms.");
        }

        static async Task<double> TimeAsync(Func<Task<HttpResponseMessage>> send)
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            using var response = await send();
            await response.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            return System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
    }

    [Fact]
    public async Task TheOwner_StreamsAndContinuesItsOwnRun_WithAToken()
    {
        var baseAddress = await fixture.SecuredWorkerAsync();
        using var http = ApiFixture.Client(baseAddress);
        var owner = Credential.Jwt("user-" + Guid.NewGuid().ToString("N")[..8]);
        var (runId, conversationId) = await owner.StartAsync(http, "Plan 1 day in Leuven");

        using var stream = await owner.GetAsync(http, $"/agents/{Agent}/runs/{runId}/stream");
        var events = SseParser.Parse(await stream.Content.ReadAsStringAsync(TestRuns.Deadline())).Events;
        using var next = new HttpRequestMessage(HttpMethod.Post, $"/agents/{Agent}/runs") { Content = JsonContent.Create(new { message = "And a second day?", conversationId }) };
        using var continued = await owner.SendAsync(http, next);

        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        Assert.Equal("done", events[^1].Type);
        Assert.Equal(HttpStatusCode.Accepted, continued.StatusCode);
    }

    private static HttpRequestMessage Get(string url, string accept = "application/json")
    {
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.ParseAdd(accept);
        return request;
    }

    private static HttpRequestMessage WithHeader(HttpRequestMessage request, string name, string value)
    {
        request.Headers.Add(name, value);
        return request;
    }
}
