namespace Occystrap.Abstractions;

/// <summary>An operating system and CPU, as index entries and image configs name them.</summary>
/// <param name="Variant">e.g. <c>v8</c> for arm64; null when not given.</param>
public sealed record Platform(string Os, string Architecture, string? Variant = null)
{
    public static Platform LinuxAmd64 { get; } = new("linux", "amd64");

    public string? OsVersion { get; init; }

    public IReadOnlyList<string>? OsFeatures { get; init; }

    /// <summary><c>os/architecture[/variant]</c>.</summary>
    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";

    /// <summary>Parses <c>os/architecture[/variant]</c>.</summary>
    public static Platform Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(p => p.Length == 0))
            throw new UsageException($"'{text}' is not a platform (expected os/architecture[/variant], e.g. linux/arm64/v8)");
        return new Platform(parts[0], parts[1], parts.Length == 3 ? parts[2] : null);
    }
}
