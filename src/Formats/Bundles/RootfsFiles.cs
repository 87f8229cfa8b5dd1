using Occystrap.Abstractions;

namespace Occystrap.Formats.Bundles;

/// <summary>
/// Reads small files of an extracted root filesystem as the container would see them: symlinks are
/// followed inside the root (an absolute target starts at the root, <c>..</c> stops there), so an
/// image's <c>/etc/passwd -> /../../etc/shadow</c> never reads the host's.
/// </summary>
internal static class RootfsFiles
{
    private const int MaxHops = 40;

    /// <summary>The host path of <paramref name="path"/> inside <paramref name="rootfs"/>, or null when it does not exist.</summary>
    public static string? Resolve(string rootfs, string path)
    {
        var parts = new List<string>();
        var pending = new Stack<string>(path.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        int hops = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part == ".") continue;
            if (part == "..")
            {
                if (parts.Count > 0) parts.RemoveAt(parts.Count - 1);
                continue;
            }
            string host = Path.Combine(rootfs, Path.Combine([.. parts, part]));
            var info = new FileInfo(host);
            if (info.LinkTarget is { } target)
            {
                if (++hops > MaxHops) throw new OccystrapException($"{path} in the image is a symlink loop");
                if (target.StartsWith('/')) parts.Clear();
                foreach (string t in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse()) pending.Push(t);
                continue;
            }
            if (!info.Exists && !Directory.Exists(host)) return null;
            parts.Add(part);
        }
        return Path.Combine(rootfs, Path.Combine([.. parts]));
    }

    /// <summary>The lines of a small regular file of the image (up to 1 MiB), or none when it is missing.</summary>
    public static IReadOnlyList<string> Lines(string rootfs, string path)
    {
        string? host = Resolve(rootfs, path);
        if (host is null || !File.Exists(host)) return [];
        using var file = new FileStream(host, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        if (file.Length > 1024 * 1024) throw new OccystrapException($"{path} in the image is larger than 1 MiB");
        using var reader = new StreamReader(file);
        return reader.ReadToEnd().Split('\n');
    }
}
