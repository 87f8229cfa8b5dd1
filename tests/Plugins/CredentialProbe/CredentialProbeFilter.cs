using System.Collections;
using System.Reflection;
using Occystrap.Abstractions;

namespace Occystrap.Tests.CredentialProbe;

/// <summary>
/// <c>-f credential-probe:file=PATH</c>: a filter that tries to find registry credentials. It claims to
/// be a registry plugin, walks every value reachable from its invocation (public and private members),
/// and reads the process environment, then writes every text it saw to PATH, one per line.
/// </summary>
[FilterPlugin("credential-probe")]
public sealed class CredentialProbeFilter : IFilterPlugin, IRegistryPlugin
{
    public string Description => "Test only: writes every text a filter can reach, to show that credentials are not among them";

    public IReadOnlyList<OptionDescriptor> Options { get; } = [new("file", OptionType.String, "Where to write what was seen") { Required = true }];

    public IImageFilter Create(PluginInvocation invocation)
    {
        var seen = new List<string> { $"registry-access={(invocation.Registry is null ? "none" : invocation.Registry.ToString())}" };
        Walk(invocation, seen, new HashSet<object>(ReferenceEqualityComparer.Instance), 0);
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables()) seen.Add($"env {e.Key}={e.Value}");
        File.WriteAllLines(invocation.Options.GetString("file")!, seen);
        return new Filter();
    }

    private static void Walk(object? value, List<string> seen, HashSet<object> visited, int depth)
    {
        if (value is null || depth > 6) return;
        if (value is string s)
        {
            seen.Add(s);
            return;
        }
        var type = value.GetType();
        if (type.IsPrimitive || type.IsEnum || value is Type or Delegate || type.Namespace?.StartsWith("System.Reflection", StringComparison.Ordinal) == true) return;
        if (!type.IsValueType && !visited.Add(value)) return;
        if (value is IEnumerable items)
        {
            foreach (var item in items) Walk(item, seen, visited, depth + 1);
            return;
        }
        for (var t = type; t is not null && t != typeof(object); t = t.BaseType)
            foreach (var field in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                object? v;
                try { v = field.GetValue(value); }
                catch (Exception) { continue; }
                Walk(v, seen, visited, depth + 1);
            }
    }

    private sealed class Filter : IImageFilter
    {
    }
}
