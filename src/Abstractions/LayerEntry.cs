namespace Occystrap.Abstractions;

public enum EntryKind
{
    File,
    Directory,
    Symlink,
    HardLink,
    CharacterDevice,
    BlockDevice,
    Fifo,
}

/// <summary>
/// The header of one tar entry in a layer, as a filter sees it. Filters may change any settable field;
/// the content is copied unchanged.
/// </summary>
public sealed class LayerEntry
{
    public LayerEntry(string path, EntryKind kind, long size)
    {
        Path = path;
        Kind = kind;
        Size = size;
    }

    /// <summary>The name as stored in the tar (no leading slash; may start with <c>./</c>).</summary>
    public string Path { get; set; }

    public EntryKind Kind { get; set; }

    /// <summary>The target of a symlink or hardlink.</summary>
    public string? LinkTarget { get; set; }

    /// <summary>Permission and special bits (07777).</summary>
    public int Mode { get; set; }

    public long Uid { get; set; }
    public long Gid { get; set; }
    public string? UserName { get; set; }
    public string? GroupName { get; set; }
    public DateTimeOffset ModificationTime { get; set; }
    public int DeviceMajor { get; set; }
    public int DeviceMinor { get; set; }

    /// <summary>Size of the content in bytes (files only).</summary>
    public long Size { get; }

    /// <summary>
    /// PAX records that are not header fields: xattrs (<c>SCHILY.xattr.*</c>), ACLs, <c>atime</c>, <c>ctime</c>…
    /// Values are raw bytes, because xattr values such as <c>security.capability</c> are binary.
    /// They are written in ordinal key order.
    /// </summary>
    public SortedDictionary<string, byte[]> ExtendedAttributes { get; } = new(StringComparer.Ordinal);

    /// <summary>The last path element.</summary>
    public string FileName
    {
        get
        {
            string p = Path.TrimEnd('/');
            int slash = p.LastIndexOf('/');
            return slash < 0 ? p : p[(slash + 1)..];
        }
    }

    /// <summary>A whiteout: <c>.wh.NAME</c> deletes NAME from lower layers; <c>.wh..wh..opq</c> makes a directory opaque.</summary>
    public bool IsWhiteout => FileName.StartsWith(".wh.", StringComparison.Ordinal);
}
