using System.Reflection;
using AgentStreaming.DurableAgents.Client;
using NetArchTest.Rules;

namespace AgentStreaming.Worker.Tests;

/// <summary>
/// Each layer speaks only to the one below it: the Worker and the Client reach the durable agents through
/// DurableAgents' public API, never through Streaming.Core's stream types, DurableAgents' Redis stores or
/// StackExchange.Redis. Their hosting code (<c>Program</c>, <c>*.Hosting</c>), which registers the layers below and
/// opens the Redis connection, is the one exception.
/// </summary>
public sealed class LayeringTests
{
    private static readonly string[] BelowDurableAgents =
    [
        "StackExchange.Redis",
        "AgentStreaming.Streaming",
        "AgentStreaming.DurableAgents.Recovery",
        "AgentStreaming.DurableAgents.Storage",
        "AgentStreaming.DurableAgents.Grains",
    ];

    public static TheoryData<string> Hosts => new() { "AgentStreaming.Worker", "AgentStreaming.Client" };

    [Theory]
    [MemberData(nameof(Hosts))]
    public void Hosts_OutsideTheirHostingCode_UseOnlyDurableAgentsPublicApi(string assemblyName)
    {
        var assembly = Assembly.Load(assemblyName);

        var result = Types.InAssembly(assembly)
            .That().ResideInNamespaceMatching("^" + System.Text.RegularExpressions.Regex.Escape(assemblyName) + "(\\.|$)")
            .And().DoNotResideInNamespace(assemblyName + ".Hosting")
            .ShouldNot().HaveDependencyOnAny(BelowDurableAgents)
            .GetResult();

        Assert.True(result.IsSuccessful, $"{assemblyName} reaches past DurableAgents in: {string.Join(", ", result.FailingTypes?.Select(t => t.FullName) ?? [])}");
    }

    [Fact]
    public void DurableAgentsPublicApi_ExposesNoStreamingCoreOrRedisType()
    {
        var leaks = new List<string>();
        foreach (var type in typeof(DurableAgentClient).Assembly.GetExportedTypes())
        {
            if (type.Namespace == "Microsoft.Extensions.DependencyInjection" || type.Namespace == "Microsoft.Extensions.Hosting")
            {
                // Registration: it takes the Redis connection string, and registers Streaming.Core underneath.
                continue;
            }

            foreach (var member in type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                foreach (var exposed in Exposed(member))
                {
                    if (IsBelow(exposed))
                    {
                        leaks.Add($"{type.Name}.{member.Name}: {exposed.FullName}");
                    }
                }
            }

            if (type.BaseType is { } baseType && IsBelow(baseType))
            {
                leaks.Add($"{type.Name} derives from {baseType.FullName}");
            }
        }

        Assert.Empty(leaks);
    }

    private static IEnumerable<Type> Exposed(MemberInfo member) => (member switch
    {
        MethodInfo method => [method.ReturnType, .. method.GetParameters().Select(p => p.ParameterType)],
        ConstructorInfo constructor => constructor.GetParameters().Select(p => p.ParameterType),
        PropertyInfo property => [property.PropertyType],
        FieldInfo field => [field.FieldType],
        EventInfo @event => [@event.EventHandlerType!],
        _ => Array.Empty<Type>(),
    }).SelectMany(Unwrap);

    private static IEnumerable<Type> Unwrap(Type type)
    {
        if (type.HasElementType)
        {
            return Unwrap(type.GetElementType()!);
        }

        return type.IsGenericType ? [type, .. type.GetGenericArguments().SelectMany(Unwrap)] : [type];
    }

    private static bool IsBelow(Type type)
        => type.Namespace is { } ns && (ns.StartsWith("StackExchange.Redis", StringComparison.Ordinal) || ns.StartsWith("AgentStreaming.Streaming", StringComparison.Ordinal));
}
