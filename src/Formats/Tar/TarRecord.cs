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

    /// <summary>
    /// The records of the PAX global headers read so far that are not header fields (a <c>comment</c>, a
    /// vendor's keys), or null when there are none. They apply to this entry as to every other that
    /// follows them, and are not copied into <see cref="LayerEntry.ExtendedAttributes"/>. Header-field
    /// records of a global header (uid, mtime…) are already applied to <see cref="Entry"/>.
    /// </summary>
    public IReadOnlyDictionary<string, byte[]>? GlobalAttributes { get; init; }

    /// <summary>
    /// The non-header-field records of the global headers that stood just before this entry (an empty
    /// value unsets a key), or null: what a writer states again, once, with
    /// <see cref="TarArchiveWriter.WriteGlobalHeader"/>, to keep their meaning without repeating them.
    /// </summary>
    public IReadOnlyDictionary<string, byte[]>? GlobalHeaderBefore { get; init; }

    /// <summary>The content; valid until the next entry is read.</summary>
    public Stream Data { get; }
}
