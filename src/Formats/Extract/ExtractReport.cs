namespace Occystrap.Formats.Extract;

/// <summary>What <see cref="LayerExtractor"/> wrote, and what it could not reproduce and why.</summary>
public sealed class ExtractReport
{
    internal ExtractReport(IReadOnlyDictionary<string, int> skipped, long files, long directories, long links, long specials, long whiteouts, long bytes)
    {
        Skipped = skipped;
        Files = files;
        Directories = directories;
        Links = links;
        Specials = specials;
        Whiteouts = whiteouts;
        Bytes = bytes;
        Warning = skipped.Count == 0
            ? null
            : "not reproduced: " + string.Join(", ", skipped.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Value} {s.Key}"));
    }

    /// <summary>Reason → how many entries or attributes were not reproduced for it, e.g. "device files (need root)" → 3.</summary>
    public IReadOnlyDictionary<string, int> Skipped { get; }

    /// <summary>One line summing up <see cref="Skipped"/>, or null when nothing was skipped.</summary>
    public string? Warning { get; }

    /// <summary>Regular files written.</summary>
    public long Files { get; }

    /// <summary>Directory entries applied (created or merged).</summary>
    public long Directories { get; }

    /// <summary>Symlinks and hardlinks created.</summary>
    public long Links { get; }

    /// <summary>Devices and FIFOs created.</summary>
    public long Specials { get; }

    /// <summary>Whiteout entries applied (Apply and Overlay modes).</summary>
    public long Whiteouts { get; }

    /// <summary>Bytes of file content written.</summary>
    public long Bytes { get; }
}
