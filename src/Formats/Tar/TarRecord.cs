using Occystrap.Abstractions;

namespace Occystrap.Formats.Tar;

/// <summary>One entry read from a tar stream: its header as a <see cref="LayerEntry"/> and where its content is.</summary>
public sealed class TarRecord
{
    internal TarRecord(LayerEntry entry, string? rawMtime, long headerOffset, long dataOffset, Stream data)
    {
        Entry = entry;
        RawMtime = rawMtime;
        OriginalModificationTime = entry.ModificationTime;
        HeaderOffset = headerOffset;
        DataOffset = dataOffset;
        Data = data;
    }

    public LayerEntry Entry { get; }

    /// <summary>The PAX <c>mtime</c> record as read, kept so that an unchanged time is written back digit for digit.</summary>
    public string? RawMtime { get; }

    public DateTimeOffset OriginalModificationTime { get; }

    /// <summary>Offset of the first header block of this entry (including any PAX or GNU long-name blocks).</summary>
    public long HeaderOffset { get; }

    /// <summary>Offset of the content in the archive stream.</summary>
    public long DataOffset { get; }

    /// <summary>The content; valid until the next entry is read.</summary>
    public Stream Data { get; }
}
