using System.Globalization;

namespace Occystrap.Abstractions;

public enum OptionType
{
    String,
    Bool,
    Int,
    /// <summary>A comma-separated list; in a filter spec a piece without <c>=</c> continues the list.</summary>
    List,
}

/// <summary>Describes one option of a plugin: the host validates and converts values against it.</summary>
public sealed record OptionDescriptor(string Name, OptionType Type, string Help)
{
    public object? Default { get; init; }
    public bool Required { get; init; }
    /// <summary>Other spellings accepted on the command line (e.g. <c>script-friendly</c>).</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];

    public bool Matches(string name) =>
        string.Equals(Name, name, StringComparison.OrdinalIgnoreCase)
        || Aliases.Any(a => string.Equals(a, name, StringComparison.OrdinalIgnoreCase));

    public string DefaultText => Default switch
    {
        null => "",
        bool b => b ? "true" : "false",
        IEnumerable<string> l => string.Join(",", l),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => Default.ToString() ?? "",
    };
}

/// <summary>Validated option values of one plugin use, typed as their descriptors declare.</summary>
public sealed class OptionValues
{
    private readonly IReadOnlyDictionary<string, object> _values;

    public OptionValues(IReadOnlyDictionary<string, object> values) => _values = values;

    public static OptionValues Empty { get; } = new(new Dictionary<string, object>());

    public bool IsSet(string name) => _values.ContainsKey(name);

    public string? GetString(string name) => _values.TryGetValue(name, out var v) ? (string)v : null;

    public bool? GetBool(string name) => _values.TryGetValue(name, out var v) ? (bool)v : null;

    public long? GetInt(string name) => _values.TryGetValue(name, out var v) ? (long)v : null;

    public IReadOnlyList<string>? GetList(string name) =>
        _values.TryGetValue(name, out var v) ? (IReadOnlyList<string>)v : null;

    public IEnumerable<KeyValuePair<string, object>> All => _values;
}
