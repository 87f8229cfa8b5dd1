using Occystrap.Abstractions;

namespace Occystrap.Formats.Images;

/// <summary>
/// The one rule for choosing an image from an index, used by every source:
/// <list type="number">
/// <item>os and architecture must match; <c>arm64</c> means variant <c>v8</c> and <c>arm</c> means <c>v7</c> when no variant is asked for;</item>
/// <item>an entry whose variant matches exactly wins;</item>
/// <item>otherwise an entry that names no variant;</item>
/// <item>otherwise, when no variant was asked for, the first entry of that os and architecture;</item>
/// <item>an index whose entries name no platform at all (nested indexes) gives its first entry.</item>
/// </list>
/// When nothing matches, the error lists what is on offer.
/// </summary>
public static class PlatformRule
{
    /// <summary>The variant a bare architecture means.</summary>
    public static string? DefaultVariant(string architecture) => architecture switch
    {
        "arm64" => "v8",
        "arm" => "v7",
        _ => null,
    };

    public static Descriptor Choose(IReadOnlyList<Descriptor> entries, PlatformChoice wanted, string where)
    {
        if (entries.Count == 0) throw new OccystrapException($"{where} is an index that lists no image");
        if (entries.All(e => e.Platform is null)) return entries[0];
        string? variant = wanted.Variant ?? DefaultVariant(wanted.Architecture);
        var candidates = entries.Where(e => e.Platform is { } p && p.Os == wanted.Os && p.Architecture == wanted.Architecture).ToList();
        var chosen = candidates.FirstOrDefault(e => e.Platform!.Variant == variant)
            ?? candidates.FirstOrDefault(e => e.Platform!.Variant is null)
            ?? (wanted.Variant is null ? candidates.FirstOrDefault() : null);
        if (chosen is not null) return chosen;
        string offered = string.Join(", ", entries.Select(e => e.Platform?.ToString() ?? "(no platform)").Distinct());
        throw new OccystrapException($"{where} has no image for {wanted}; it has: {offered}");
    }

    /// <summary>The distinct platforms an index offers, for notices.</summary>
    public static IReadOnlyList<string> Offered(IReadOnlyList<Descriptor> entries) =>
        entries.Where(e => e.Platform is { Os: not "unknown" }).Select(e => e.Platform!.ToString()).Distinct().ToList();
}
