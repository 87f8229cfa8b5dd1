using System.Globalization;
using Occystrap.Abstractions;

namespace Occystrap.Filters.NormalizeTimestamps;

/// <summary>
/// <c>normalize-timestamps[:ts=N]</c>: every entry of every layer gets modification time N (default:
/// <c>SOURCE_DATE_EPOCH</c> when set, else 0), and the PAX <c>atime</c>, <c>ctime</c> and
/// <c>LIBARCHIVE.creationtime</c> records are dropped, so the same content gives the same layer bytes.
/// </summary>
[FilterPlugin("normalize-timestamps")]
public sealed class NormalizeTimestampsFilter : IFilterPlugin
{
    private static readonly string[] DroppedRecords = ["atime", "ctime", "LIBARCHIVE.creationtime"];

    public string Description => "Set every file's modification time to one value for reproducible layers";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("ts", OptionType.Int, "Unix time to set (default: $SOURCE_DATE_EPOCH if set, else 0)") { Aliases = ["timestamp"] },
    ];

    public IImageFilter Create(PluginInvocation invocation)
    {
        long seconds = invocation.Options.GetInt("ts") ?? FromEnvironment() ?? 0;
        // Tar headers hold 0 to 8^11-1 seconds directly; PAX records take the rest, but dates past year 9999 are no timestamps.
        if (seconds < 0 || seconds > 253402300799)
            throw new UsageException($"filter 'normalize-timestamps': ts must be between 0 and 253402300799 (the year 9999), not {seconds}");
        return new Filter(DateTimeOffset.FromUnixTimeSeconds(seconds));
    }

    private static long? FromEnvironment()
    {
        string? text = Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH");
        if (string.IsNullOrWhiteSpace(text)) return null;
        return long.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long v)
            ? v
            : throw new UsageException($"SOURCE_DATE_EPOCH must be a whole number of seconds, not '{text}'");
    }

    private sealed class Filter(DateTimeOffset time) : IImageFilter, ILayerEntryFilter
    {
        public ILayerEntryFilter? ForLayer(LayerInfo layer) => this;

        public EntryAction Process(LayerEntry entry)
        {
            entry.ModificationTime = time;
            foreach (string key in DroppedRecords) entry.ExtendedAttributes.Remove(key);
            return EntryAction.Keep;
        }
    }
}
