using System.Globalization;
using Occystrap.Abstractions;

namespace Occystrap.Host.Plugins;

/// <summary>A parsed <c>scheme://target?k=v</c> URI or <c>name:k=v,...</c> filter spec, options still as text.</summary>
/// <remarks>An option given without a value (<c>?insecure</c>) has a null value: true for a bool option, an error otherwise.</remarks>
internal sealed record PluginSpec(string Name, string Target, IReadOnlyList<KeyValuePair<string, string?>> Options, string Text)
{
    /// <summary>The target before percent-decoding.</summary>
    public string RawTarget { get; init; } = Target;

    /// <summary>Bare pieces of a filter spec that were read as the continuation of an option's value.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Continued { get; init; } = [];

    private static readonly Dictionary<string, string> SchemeAliases = new(StringComparer.Ordinal)
    {
        ["file"] = "tar",
        ["directory"] = "dir",
    };

    /// <summary>
    /// <c>scheme://rest?k=v&amp;k2=v2</c>; <c>scheme:rest</c> without slashes is accepted too. Values are
    /// percent-decoded; <c>file</c> means <c>tar</c> and <c>directory</c> means <c>dir</c>.
    /// </summary>
    public static PluginSpec ParseUri(string uri)
    {
        int sep = uri.IndexOf("://", StringComparison.Ordinal);
        string scheme, rest;
        if (sep > 0)
        {
            scheme = uri[..sep];
            rest = uri[(sep + 3)..];
        }
        else
        {
            int colon = uri.IndexOf(':');
            if (colon <= 0 || !uri[..colon].All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '-' or '.'))
                throw new UsageException($"'{SecretText.Redact(uri)}' has no scheme; write it as SCHEME://..., e.g. tar://image.tar or registry://host/name:tag");
            scheme = uri[..colon];
            rest = uri[(colon + 1)..];
        }
        scheme = scheme.ToLowerInvariant();
        if (SchemeAliases.TryGetValue(scheme, out var alias)) scheme = alias;

        var options = new List<KeyValuePair<string, string?>>();
        int q = rest.IndexOf('?');
        if (q >= 0)
        {
            foreach (string pair in rest[(q + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = pair.IndexOf('=');
                string key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
                string? value = eq < 0 ? null : Uri.UnescapeDataString(pair[(eq + 1)..]);
                options.Add(new(key, value));
            }
            rest = rest[..q];
        }
        return new PluginSpec(scheme, Uri.UnescapeDataString(rest), options, SecretText.Redact(uri)) { RawTarget = rest };
    }

    /// <summary>
    /// <c>name[:k=v[,k=v…]]</c>. A piece without <c>=</c> continues the previous value, so list and
    /// regex values may hold commas: <c>exclude:pattern=**/.git/**,**/*.pyc</c>.
    /// </summary>
    public static PluginSpec ParseFilter(string spec)
    {
        string trimmed = spec.Trim();
        if (trimmed.Length == 0) throw new UsageException("empty filter specification");
        int colon = trimmed.IndexOf(':');
        string name = PluginCatalog.NormalizeName(colon < 0 ? trimmed : trimmed[..colon]);
        var options = new List<KeyValuePair<string, string?>>();
        var continued = new List<KeyValuePair<string, string>>();
        if (colon >= 0)
        {
            foreach (string piece in trimmed[(colon + 1)..].Split(','))
            {
                int eq = piece.IndexOf('=');
                if (eq < 0)
                {
                    if (options.Count == 0)
                        throw new UsageException($"filter '{name}': option '{piece}' has no value (write key=value)");
                    var last = options[^1];
                    options[^1] = new(last.Key, last.Value + "," + piece);
                    continued.Add(new(last.Key, piece));
                    continue;
                }
                options.Add(new(piece[..eq].Trim(), piece[(eq + 1)..]));
            }
        }
        return new PluginSpec(name, "", options, spec) { Continued = continued };
    }

    /// <summary>Checks every option against the plugin's descriptors and converts it to the declared type.</summary>
    public OptionValues Bind(IPlugin plugin, string role)
    {
        var values = new Dictionary<string, object>(StringComparer.Ordinal);
        // A bare piece that is one of the plugin's own option names was meant as that option, not as more of
        // the value before it: 'search:pattern=*.txt,script-friendly' would search for '*.txt,script-friendly'.
        foreach (var (key, piece) in Continued)
            if (plugin.Options.FirstOrDefault(o => SameName(o, piece.Trim())) is { } meant)
                throw new UsageException($"{role} '{Name}': '{piece}' was read as part of the value of '{key}', but it is the option '{meant.Name}'; write {piece.Trim()}=true (or {piece.Trim()}=VALUE)");
        foreach (var (key, raw) in Options)
        {
            var d = plugin.Options.FirstOrDefault(o => SameName(o, key))
                ?? throw new UsageException($"{role} '{Name}' has no option '{key}'"
                    + (plugin.Options.Count == 0 ? " (it takes none)" : $" (it takes: {string.Join(", ", plugin.Options.Select(o => o.Name))})"));
            values[d.Name] = Convert(d, raw, role);
        }
        foreach (var d in plugin.Options)
        {
            if (values.ContainsKey(d.Name)) continue;
            if (d.Required) throw new UsageException($"{role} '{Name}' needs the option '{d.Name}' ({d.Help})");
            if (d.Default is not null) values[d.Name] = d.Type switch
            {
                OptionType.Int => System.Convert.ToInt64(d.Default, CultureInfo.InvariantCulture),
                OptionType.List when d.Default is string text => text.Split(',').ToList(),
                _ => d.Default,
            };
        }
        return new OptionValues(values);
    }

    /// <summary>Option names match case-insensitively, with '-' and '_' taken as the same.</summary>
    private static bool SameName(OptionDescriptor d, string key)
    {
        static string Fold(string s) => s.Replace('-', '_').ToLowerInvariant();
        return d.Aliases.Prepend(d.Name).Any(n => Fold(n) == Fold(key));
    }

    private object Convert(OptionDescriptor d, string? raw, string role)
    {
        if (raw is null)
        {
            if (d.Type == OptionType.Bool) return true;
            throw new UsageException($"{role} '{Name}': option '{d.Name}' needs a value ({d.Name}=...)");
        }
        string value = d.Type == OptionType.String || d.Type == OptionType.List ? raw : raw.Trim();
        switch (d.Type)
        {
            case OptionType.Bool:
                return value.ToLowerInvariant() switch
                {
                    "true" or "yes" or "1" or "on" => true,
                    "false" or "no" or "0" or "off" => false,
                    _ => throw new UsageException($"{role} '{Name}': option '{d.Name}' takes true or false, not '{raw}'"),
                };
            case OptionType.Int:
                return long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long n)
                    ? n
                    : throw new UsageException($"{role} '{Name}': option '{d.Name}' takes a whole number, not '{raw}'");
            case OptionType.List:
                var items = value.Split(',').Select(s => s.Trim()).Where(s => s.Length > 0).ToList();
                if (items.Count == 0) throw new UsageException($"{role} '{Name}': option '{d.Name}' is empty");
                return (IReadOnlyList<string>)items;
            default:
                if (value.Length == 0) throw new UsageException($"{role} '{Name}': option '{d.Name}' is empty");
                return value;
        }
    }
}
