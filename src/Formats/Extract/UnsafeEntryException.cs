using Occystrap.Abstractions;

namespace Occystrap.Formats.Extract;

/// <summary>A layer entry that would write outside the extraction root (or through a symlink loop): nothing of it is written.</summary>
public sealed class UnsafeEntryException : OccystrapException
{
    public UnsafeEntryException(string layerName, string entryPath, string reason)
        : base($"layer {layerName}: refusing '{entryPath}': {reason}")
    {
        LayerName = layerName;
        EntryPath = entryPath;
        Reason = reason;
    }

    public string LayerName { get; }
    public string EntryPath { get; }
    public string Reason { get; }
}
