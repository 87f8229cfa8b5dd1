using Occystrap.Abstractions;
using Occystrap.Formats.IO;
using Occystrap.Formats.Tar;

namespace Occystrap.Formats.Archives;

/// <summary>
/// The entries of a tar file on disk and where their content lies, read in one pass over the headers
/// (content is skipped by seeking, not read). Members open later as windows onto the file.
/// </summary>
public sealed class ArchiveIndex
{
    private readonly Dictionary<string, Member> _members = new(StringComparer.Ordinal);

    private ArchiveIndex(string path, string displayName)
    {
        Path = path;
        DisplayName = displayName;
    }

    /// <summary>The tar file read.</summary>
    public string Path { get; }

    /// <summary>The name the user gave (differs from <see cref="Path"/> when a compressed archive was unpacked to a temp file).</summary>
    public string DisplayName { get; }

    public IEnumerable<string> Names => _members.Keys;

    public sealed record Member(string Name, EntryKind Kind, long Offset, long Size, string? LinkTarget);

    public static ArchiveIndex Build(string path, string? displayName = null)
    {
        var index = new ArchiveIndex(path, displayName ?? path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024);
        using var reader = new TarArchiveReader(file, leaveOpen: true) { Description = $"archive {index.DisplayName}" };
        while (reader.Next() is { } record)
        {
            var e = record.Entry;
            string name = Normalize(e.Path);
            if (name.Length == 0) continue;
            index._members[name] = new Member(name, e.Kind, record.DataOffset, e.Size, e.LinkTarget);
        }
        return index;
    }

    public bool Contains(string name) => Resolve(name) is not null;

    /// <summary>Follows symlinks and hardlinks (docker-archive files from skopeo link <c>ID/layer.tar</c> to <c>DIFFID.tar</c>).</summary>
    public Member? Resolve(string name)
    {
        string current = Normalize(name);
        for (int hops = 0; hops < 16; hops++)
        {
            if (!_members.TryGetValue(current, out var m)) return null;
            switch (m.Kind)
            {
                case EntryKind.File:
                    return m;
                case EntryKind.HardLink:
                    current = Normalize(m.LinkTarget ?? "");
                    break;
                case EntryKind.Symlink:
                    string target = m.LinkTarget ?? "";
                    if (!target.StartsWith('/'))
                    {
                        int slash = current.LastIndexOf('/');
                        target = (slash < 0 ? "" : current[..(slash + 1)]) + target;
                    }
                    current = Normalize(target);
                    break;
                default:
                    return null;
            }
        }
        return null;
    }

    public Stream Open(Member member) => new FileSliceStream(Path, member.Offset, member.Size);

    /// <summary>Reads a small member (manifests, configs) whole; refuses anything over <paramref name="limit"/> bytes.</summary>
    public byte[] ReadAll(string name, long limit = 16 * 1024 * 1024)
    {
        var m = Resolve(name) ?? throw new OccystrapException($"archive {DisplayName} has no '{name}'");
        if (m.Size > limit) throw new OccystrapException($"'{name}' in archive {DisplayName} is {m.Size} bytes, over the {limit} byte limit");
        var buffer = new byte[m.Size];
        using var s = Open(m);
        s.ReadExactly(buffer);
        return buffer;
    }

    /// <summary>Drops <c>./</c> and leading slashes and resolves <c>.</c> and <c>..</c> components.</summary>
    public static string Normalize(string name)
    {
        var parts = new List<string>();
        foreach (string part in name.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..")
            {
                if (parts.Count > 0) parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(part);
        }
        return string.Join('/', parts);
    }
}
