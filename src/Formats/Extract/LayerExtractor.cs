using System.Text;
using Microsoft.Win32.SafeHandles;
using Occystrap.Abstractions;
using Occystrap.Formats.Tar;
using static Occystrap.Formats.Extract.Native;

namespace Occystrap.Formats.Extract;

/// <summary>
/// Applies the entries of uncompressed layer tars, in order, under a root directory, and never writes outside it.
/// Every path is resolved one component at a time from a descriptor of the root (decision 0015): a symlink on the
/// way is followed only when it leads to a directory inside the root, the last component is never followed, and
/// anything else is refused with <see cref="UnsafeEntryException"/>. Directory modes and times are applied by
/// <see cref="Finish"/>, after the last layer. Not thread-safe: one layer at a time.
/// </summary>
public sealed class LayerExtractor : IDisposable
{
    private const int MaxSymlinkHops = 40;
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueMarker = ".wh..wh..opq";
    private const string XattrPrefix = "SCHILY.xattr.";

    private readonly int _root;
    private readonly WhiteoutMode _whiteouts;
    private readonly bool _privileged;
    private readonly uint _euid, _egid;
    private readonly byte[] _buffer = new byte[128 * 1024];
    private readonly byte[] _stat = new byte[256];
    private readonly byte[] _link = new byte[4096];
    private readonly long[] _times = new long[4];
    private readonly Stack<string> _todo = new();
    private readonly List<int> _walkFds = new();
    private readonly List<string> _walkNames = new();

    // The paths the current layer wrote, with their ancestors: what its whiteouts must not delete.
    private readonly HashSet<string> _written = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (LayerEntry Entry, string Layer)> _deferredDirs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _skipped = new(StringComparer.Ordinal);

    // The last parent directory resolved, so that a layer of many files in one directory resolves it once.
    private string? _cachedParent;
    private int _cachedFd = -1;

    private string _layer = "";
    private string _entryPath = "";
    private long _files, _directories, _links, _specials, _whiteoutCount, _bytes;
    private bool _finished, _disposed;

    /// <param name="root">An existing directory; it is opened once and everything is resolved from it.</param>
    public LayerExtractor(string root, ExtractOptions? options = null)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("extracting layers needs Linux");
        options ??= new ExtractOptions();
        _whiteouts = options.Whiteouts;
        _euid = geteuid();
        _egid = getegid();
        _privileged = options.Privileged ?? _euid == 0;
        _root = openat(AT_FDCWD, root, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        if (_root < 0) throw new OccystrapException($"cannot open the extraction root '{root}': {Describe(Errno)}");
    }

    /// <summary>Applies one layer on top of those applied before it.</summary>
    public void ApplyLayer(Stream uncompressedTar, string layerName, CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_finished) throw new InvalidOperationException("the extraction is finished");
        _layer = layerName;
        _written.Clear();
        using var reader = new TarArchiveReader(uncompressedTar, leaveOpen: true) { Description = $"layer {layerName}" };
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (reader.Next() is not { } record) break;
            Apply(record.Entry, record.Data);
        }
    }

    /// <summary>
    /// Applies one layer and reads its stream to the end, the tar's trailing blocks too, so that a stream
    /// that verifies its digest at the end sees every byte. With <paramref name="copyTo"/>, everything read
    /// also goes there (a <c>layer.tar</c> kept beside the tree): one pass over the layer.
    /// </summary>
    public async Task ApplyLayerAsync(Stream uncompressedTar, string layerName, Stream? copyTo, CancellationToken ct = default)
    {
        Stream source = copyTo is null ? uncompressedTar : new IO.TeeReadStream(uncompressedTar, copyTo);
        ApplyLayer(source, layerName, ct);
        await source.CopyToAsync(Stream.Null, 1024 * 1024, ct).ConfigureAwait(false);
    }

    /// <summary>Applies the deferred directory owners, modes, xattrs and times, deepest first, and says what was written and skipped.</summary>
    public ExtractReport Finish()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_finished)
        {
            _finished = true;
            DropCache();
            foreach (var (path, (entry, layer)) in _deferredDirs
                         .OrderByDescending(d => d.Key.Count(c => c == '/')).ThenBy(d => d.Key, StringComparer.Ordinal))
            {
                _layer = layer;
                _entryPath = entry.Path;
                var (parent, name) = Split(path);
                int dir = Walk(parent, create: false);
                if (dir < 0) continue;
                try
                {
                    if (TypeAt(dir, name, _stat) == S_IFDIR) SetMetadata(dir, name, entry);
                }
                finally
                {
                    CloseOwned(dir);
                }
            }
            _deferredDirs.Clear();
        }
        return new ExtractReport(new Dictionary<string, int>(_skipped, StringComparer.Ordinal),
            _files, _directories, _links, _specials, _whiteoutCount, _bytes);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        DropCache();
        close(_root);
    }

    private void Apply(LayerEntry entry, Stream data)
    {
        _entryPath = entry.Path;
        string path = Clean(entry.Path, hardlinkTarget: false);
        // The root itself: its owner and mode are the caller's.
        if (path.Length == 0) return;
        var (parent, name) = Split(path);
        if (_whiteouts != WhiteoutMode.Keep && name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
        {
            Whiteout(parent, name);
            return;
        }

        int dir = Parent(parent);
        switch (entry.Kind)
        {
            case EntryKind.Directory:
                if (!Clear(dir, name, path, keepDirectory: true) && mkdirat(dir, name, 0x1C0 /* 0700, so that children can be written */) != 0)
                    throw Failed("create", Errno);
                _deferredDirs[path] = (entry, _layer);
                _directories++;
                break;
            case EntryKind.File:
                Clear(dir, name, path, keepDirectory: false);
                WriteFile(dir, name, data);
                SetMetadata(dir, name, entry);
                _files++;
                break;
            case EntryKind.Symlink:
                Clear(dir, name, path, keepDirectory: false);
                if (symlinkat(entry.LinkTarget ?? "", dir, name) != 0) throw Failed("create", Errno);
                SetMetadata(dir, name, entry);
                _links++;
                break;
            case EntryKind.HardLink:
                Link(dir, name, path, entry.LinkTarget ?? "");
                _links++;
                break;
            case EntryKind.CharacterDevice or EntryKind.BlockDevice or EntryKind.Fifo:
                Clear(dir, name, path, keepDirectory: false);
                if (entry.Kind != EntryKind.Fifo && !_privileged)
                {
                    Skip("device files (need root)");
                    break;
                }
                uint type = entry.Kind switch { EntryKind.CharacterDevice => S_IFCHR, EntryKind.BlockDevice => S_IFBLK, _ => S_IFIFO };
                if (mknodat(dir, name, type | 0x180, MakeDev(entry.DeviceMajor, entry.DeviceMinor)) != 0) throw Failed("create", Errno);
                SetMetadata(dir, name, entry);
                _specials++;
                break;
        }
        MarkWritten(path);
    }

    private void WriteFile(int dir, string name, Stream data)
    {
        int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0x180);
        if (fd < 0) throw Failed("create", Errno);
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        long offset = 0;
        int n;
        while ((n = data.Read(_buffer)) > 0)
        {
            RandomAccess.Write(handle, _buffer.AsSpan(0, n), offset);
            offset += n;
        }
        _bytes += offset;
    }

    private void Link(int dir, string name, string path, string linkTarget)
    {
        string target = Clean(linkTarget, hardlinkTarget: true);
        if (target == path) return; // a link to itself: it is there already
        if (target.Length == 0) throw Refuse($"hardlink target '{linkTarget}' is a directory");
        var (targetParent, targetName) = Split(target);
        int targetDir = Walk(targetParent, create: false);
        if (targetDir < 0) throw Refuse($"hardlink target '{linkTarget}' does not exist");
        try
        {
            uint type = TypeAt(targetDir, targetName, _stat);
            if (type == 0) throw Refuse($"hardlink target '{linkTarget}' does not exist");
            if (type == S_IFDIR) throw Refuse($"hardlink target '{linkTarget}' is a directory");
            Clear(dir, name, path, keepDirectory: false);
            if (linkat(targetDir, targetName, dir, name, 0) != 0) throw Failed("create", Errno);
        }
        finally
        {
            CloseOwned(targetDir);
        }
    }

    private void Whiteout(string parent, string name)
    {
        _whiteoutCount++;
        if (name == OpaqueMarker)
        {
            if (_whiteouts == WhiteoutMode.Apply)
            {
                int existing = Parent(parent, create: false);
                if (existing >= 0) Prune(existing, parent);
            }
            else
            {
                int dir = Parent(parent);
                SetXattr($"/proc/self/fd/{dir}/.", "trusted.overlay.opaque", "y"u8.ToArray(), special: false, overlay: true);
            }
            return;
        }

        string hidden = name[WhiteoutPrefix.Length..];
        if (hidden is "" or "." or "..") throw Refuse("the whiteout names no file");
        string path = parent.Length == 0 ? hidden : parent + "/" + hidden;
        if (_whiteouts == WhiteoutMode.Apply)
        {
            if (_written.Contains(path)) return;
            int dir = Parent(parent, create: false);
            if (dir < 0) return;
            uint type = TypeAt(dir, hidden, _stat);
            if (type != 0) Remove(dir, NameBytes(hidden), path, type == S_IFDIR);
        }
        else
        {
            int dir = Parent(parent);
            Clear(dir, hidden, path, keepDirectory: false);
            if (mknodat(dir, hidden, S_IFCHR, 0) != 0)
            {
                if (Errno == EPERM && !_privileged) Skip("overlay whiteouts (need root)");
                else throw Failed("create the whiteout for", Errno);
            }
            MarkWritten(path);
        }
    }

    /// <summary>An opaque directory: deletes, recursively, every child the current layer did not write.</summary>
    private void Prune(int dir, string dirPath)
    {
        foreach (var (child, dtype) in List(dir))
        {
            string name = Encoding.UTF8.GetString(child, 0, child.Length - 1);
            string path = dirPath.Length == 0 ? name : dirPath + "/" + name;
            bool isDir = dtype == DT_DIR || dtype == DT_UNKNOWN && TypeAt(dir, child, _stat) == S_IFDIR;
            if (!_written.Contains(path))
            {
                Remove(dir, child, path, isDir);
            }
            else if (isDir)
            {
                int fd = openat(dir, child, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
                if (fd < 0) throw Failed($"open '{path}' under", Errno);
                try { Prune(fd, path); }
                finally { close(fd); }
            }
        }
    }

    /// <summary>Removes what stands at <paramref name="name"/> unless it is a directory and <paramref name="keepDirectory"/>; returns whether a directory is kept.</summary>
    private bool Clear(int dir, string name, string path, bool keepDirectory)
    {
        uint type = TypeAt(dir, name, _stat);
        if (type == 0) return false;
        if (type == S_IFDIR && keepDirectory) return true;
        Remove(dir, NameBytes(name), path, type == S_IFDIR);
        return false;
    }

    private void Remove(int dir, byte[] name, string path, bool isDirectory)
    {
        // A removed directory may be an ancestor of the cached parent, or the symlink that led to it.
        Invalidate();
        if (isDirectory)
        {
            _deferredDirs.Remove(path);
            string prefix = path + "/";
            foreach (string key in _deferredDirs.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).ToList())
                _deferredDirs.Remove(key);
            RemoveTree(dir, name);
        }
        else if (unlinkat(dir, name, 0) != 0)
        {
            throw Failed($"remove '{path}' for", Errno);
        }
    }

    /// <summary>Deletes a directory and everything in it, on descriptors, never following a symlink.</summary>
    private void RemoveTree(int parent, byte[] name)
    {
        int fd = openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
        if (fd < 0) throw Failed("open a directory to remove for", Errno);
        try
        {
            foreach (var (child, dtype) in List(fd))
            {
                bool isDir = dtype == DT_DIR || dtype == DT_UNKNOWN && TypeAt(fd, child, _stat) == S_IFDIR;
                if (isDir) RemoveTree(fd, child);
                else if (unlinkat(fd, child, 0) != 0) throw Failed("remove a file for", Errno);
            }
        }
        finally
        {
            close(fd);
        }
        if (unlinkat(parent, name, AT_REMOVEDIR) != 0) throw Failed("remove a directory for", Errno);
    }

    /// <summary>Owner, then mode (chown clears setuid), then xattrs (chown drops security.capability), then times.</summary>
    private void SetMetadata(int dir, string name, LayerEntry entry)
    {
        if (_privileged)
        {
            if (entry.Uid > uint.MaxValue - 1 || entry.Gid > uint.MaxValue - 1)
                throw new OccystrapException($"layer {_layer}: '{_entryPath}' has an owner ({entry.Uid}:{entry.Gid}) beyond what Linux allows");
            if (fchownat(dir, name, (uint)entry.Uid, (uint)entry.Gid, AT_SYMLINK_NOFOLLOW) != 0) throw Failed("set the owner of", Errno);
        }
        else if (entry.Uid != _euid || entry.Gid != _egid)
        {
            Skip("owners other than the current user's (need root)");
        }

        if (entry.Kind != EntryKind.Symlink)
        {
            uint mode = (uint)(entry.Mode & 0xFFF);
            // glibc 2.32 and later refuse to follow a symlink here; older ones support no flag at all.
            if (fchmodat(dir, name, mode, AT_SYMLINK_NOFOLLOW) != 0 && (Errno != ENOTSUP || fchmodat(dir, name, mode, 0) != 0))
                throw Failed("set the mode of", Errno);
        }

        if (entry.ExtendedAttributes.Count > 0)
        {
            string? leaf = null;
            bool special = entry.Kind is not (EntryKind.File or EntryKind.Directory);
            foreach (var (key, value) in entry.ExtendedAttributes)
            {
                if (!key.StartsWith(XattrPrefix, StringComparison.Ordinal)) continue;
                // The descriptor's /proc link names the directory; the leaf after it is not followed by lsetxattr.
                leaf ??= $"/proc/self/fd/{dir}/{name}";
                SetXattr(leaf, key[XattrPrefix.Length..], value, special, overlay: false);
            }
        }

        long ticks = entry.ModificationTime.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rest);
        if (rest < 0)
        {
            seconds--;
            rest += TimeSpan.TicksPerSecond;
        }
        _times[0] = _times[2] = seconds;
        _times[1] = _times[3] = rest * 100;
        if (utimensat(dir, name, _times, AT_SYMLINK_NOFOLLOW) != 0) throw Failed("set the time of", Errno);
    }

    private void SetXattr(string path, string attr, byte[] value, bool special, bool overlay)
    {
        // Not privileged, the owners are not kept: a file capability or trusted attribute on a file that now belongs
        // to whoever runs the extraction would mean something else, and a real non-root process may not set them anyway.
        if (!_privileged && (attr.StartsWith("trusted.", StringComparison.Ordinal) || attr.StartsWith("security.", StringComparison.Ordinal)))
        {
            Skip(overlay ? "overlay opaque directories (need root)" : "trusted.* and security.* xattrs (need root)");
            return;
        }
        if (lsetxattr(path, attr, value, (nuint)value.Length, 0) == 0) return;
        int errno = Errno;
        if (errno == ENOTSUP)
            Skip("xattrs the file system does not support");
        else if (errno == EPERM && special && attr.StartsWith("user.", StringComparison.Ordinal))
            Skip("user.* xattrs on symlinks and devices (Linux refuses them)");
        else
            throw new OccystrapException($"layer {_layer}: cannot set the xattr {attr} of '{_entryPath}': {Describe(errno)}");
    }

    private void MarkWritten(string path)
    {
        while (_written.Add(path))
        {
            int slash = path.LastIndexOf('/');
            if (slash < 0) break;
            path = path[..slash];
        }
    }

    private void Skip(string reason) => _skipped[reason] = _skipped.GetValueOrDefault(reason) + 1;

    /// <summary>
    /// The descriptor of the directory <paramref name="parent"/>, owned by the cache; with <paramref name="create"/>,
    /// missing directories are created (0755), else -1 when one is missing.
    /// </summary>
    private int Parent(string parent, bool create = true)
    {
        if (_cachedParent == parent) return _cachedFd;
        int fd = Walk(parent, create);
        if (fd < 0) return -1;
        DropCache();
        _cachedParent = parent;
        _cachedFd = fd;
        return fd;
    }

    // The descriptor may still be in use by the entry being applied: it is closed when the cache is next filled.
    private void Invalidate() => _cachedParent = null;

    private void DropCache()
    {
        CloseOwned(_cachedFd);
        _cachedFd = -1;
        _cachedParent = null;
    }

    private void CloseOwned(int fd)
    {
        if (fd >= 0 && fd != _root) close(fd);
    }

    /// <summary>
    /// Opens the directory at the clean path <paramref name="dirPath"/>, one component at a time from the root, never
    /// following a symlink except one whose target, resolved the same way, stays inside the root.
    /// Returns a descriptor the caller closes (or the root's), or -1 when something is missing and not <paramref name="create"/>.
    /// </summary>
    private int Walk(string dirPath, bool create)
    {
        var fds = _walkFds;
        var names = _walkNames;
        fds.Clear();
        names.Clear();
        _todo.Clear();
        Push(dirPath);
        int hops = 0;
        string? via = null;
        bool done = false;
        try
        {
            while (_todo.TryPop(out string? c))
            {
                if (c.Length == 0 || c == ".") continue;
                if (c == "..")
                {
                    // Only a symlink target can climb: entry paths are cleaned first.
                    if (fds.Count == 0) throw Refuse($"goes through symlink '{via}' that leads outside the root");
                    close(fds[^1]);
                    fds.RemoveAt(fds.Count - 1);
                    names.RemoveAt(names.Count - 1);
                    continue;
                }
                int cur = fds.Count == 0 ? _root : fds[^1];
                int fd = openat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
                if (fd >= 0)
                {
                    fds.Add(fd);
                    names.Add(c);
                    continue;
                }
                int errno = Errno;
                if (errno == ENOENT)
                {
                    if (!create) return -1;
                    // A parent the tar does not name: 0755 whatever the umask, and no deferred metadata.
                    if (mkdirat(cur, c, 0x1ED) != 0 && Errno != EEXIST) throw Failed($"create the directory '{Logical(names, c)}' for", Errno);
                    if (fchmodat(cur, c, 0x1ED, 0) != 0) throw Failed($"set the mode of '{Logical(names, c)}' for", Errno);
                    _todo.Push(c);
                    continue;
                }
                if (errno != ENOTDIR) throw Failed($"open '{Logical(names, c)}' for", errno);
                nint n = readlinkat(cur, c, _link, _link.Length);
                if (n < 0)
                {
                    if (!create) return -1;
                    throw new OccystrapException($"layer {_layer}: cannot write '{_entryPath}': '{Logical(names, c)}' is not a directory");
                }
                via = Logical(names, c);
                if (++hops > MaxSymlinkHops) throw Refuse($"goes through a symlink loop at '{via}'");
                string target = Encoding.UTF8.GetString(_link, 0, (int)n);
                if (target.StartsWith('/')) throw Refuse($"goes through symlink '{via}' that leads outside the root");
                Push(target);
            }
            done = true;
            return fds.Count == 0 ? _root : fds[^1];
        }
        finally
        {
            // Close every descriptor of the walk but the one returned.
            for (int i = 0; i < fds.Count - (done ? 1 : 0); i++) close(fds[i]);
        }
    }

    private void Push(string path)
    {
        string[] parts = path.Split('/');
        for (int i = parts.Length - 1; i >= 0; i--) _todo.Push(parts[i]);
    }

    private static string Logical(List<string> names, string last) => names.Count == 0 ? last : string.Join('/', names) + "/" + last;

    /// <summary>The path without <c>./</c>, empty components and <c>..</c>; refused when absolute or when <c>..</c> climbs above the root.</summary>
    private string Clean(string raw, bool hardlinkTarget)
    {
        string What(string reason) => hardlinkTarget ? $"hardlink target '{raw}' {reason}" : reason;
        if (raw.Contains('\0')) throw Refuse(What("has a NUL character in its name"));
        if (raw.StartsWith('/')) throw Refuse(What(hardlinkTarget ? "is an absolute path" : "it is an absolute path"));
        if (IsClean(raw)) return raw;
        var parts = new List<string>();
        foreach (string c in raw.Split('/'))
        {
            if (c.Length == 0 || c == ".") continue;
            if (c != "..") parts.Add(c);
            else if (parts.Count == 0) throw Refuse(What(hardlinkTarget ? "climbs above the root with '..'" : "'..' climbs above the root"));
            else parts.RemoveAt(parts.Count - 1);
        }
        return string.Join('/', parts);
    }

    private static bool IsClean(string path)
    {
        if (path.Length == 0) return false;
        int start = 0;
        for (int i = 0; i <= path.Length; i++)
        {
            if (i < path.Length && path[i] != '/') continue;
            int len = i - start;
            if (len == 0 || path[start] == '.' && (len == 1 || len == 2 && path[start + 1] == '.')) return false;
            start = i + 1;
        }
        return true;
    }

    private static (string Parent, string Name) Split(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash < 0 ? ("", path) : (path[..slash], path[(slash + 1)..]);
    }

    private static byte[] NameBytes(string name)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(name) + 1];
        Encoding.UTF8.GetBytes(name, bytes);
        return bytes;
    }

    private UnsafeEntryException Refuse(string reason) => new(_layer, _entryPath, reason);

    private OccystrapException Failed(string what, int errno) =>
        new($"layer {_layer}: cannot {what} '{_entryPath}': {Describe(errno)}");
}
