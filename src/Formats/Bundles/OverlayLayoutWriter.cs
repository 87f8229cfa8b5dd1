using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Extract;
using Occystrap.Formats.Folders;
using Occystrap.Formats.Images;

namespace Occystrap.Formats.Bundles;

/// <summary>
/// Writes an image as an overlayfs layout (mounts://): each layer extracted on its own into
/// <c>DIFFIDHEX/layer/</c> with overlay whiteouts (a 0:0 character device for <c>.wh.NAME</c>,
/// <c>trusted.overlay.opaque=y</c> for an opaque folder), beside its <c>layer.tar</c>; the config,
/// <c>manifest.json</c> and <c>catalog.json</c> as dir:// writes them; and a runtime bundle whose
/// <c>rootfs/</c> is the overlay mount of the layers, with <c>working/</c> and <c>delta/</c> as its
/// work and upper folders. <c>mount.sh</c> mounts it and <c>umount.sh</c> unmounts it. Needs root.
/// </summary>
public sealed class OverlayLayoutWriter : IImageSink
{
    private readonly string _target;
    private readonly string _work;
    private readonly bool _mount;
    private readonly ILogger _log;
    private readonly HashSet<Digest> _written = [];
    private readonly object _gate = new();
    private readonly Dictionary<string, int> _skipped = new(StringComparer.Ordinal);
    private bool _committed;

    /// <param name="mount">Mount the layout at <c>rootfs/</c> once it is written.</param>
    public OverlayLayoutWriter(string folder, bool mount, int parallel, ILogger log)
    {
        if (Native.geteuid() != 0)
            throw new OccystrapException("mounts:// needs root: its whiteouts are device nodes and trusted.* xattrs, which only root can make");
        _target = Path.GetFullPath(folder);
        _mount = mount;
        _log = log;
        ParallelLayers = parallel;
        Trees.CheckDestination(_target, folder, IsLayout, "a mounts:// layout");
        if (IsMounted(Path.Combine(_target, "rootfs")))
            throw new OccystrapException($"{folder}/rootfs is mounted; unmount it first (sh {folder}/umount.sh)");
        _work = Trees.Beside(_target);
        Directory.CreateDirectory(_work);
    }

    /// <summary>A layout an earlier run wrote: its mount script and manifest.</summary>
    public static bool IsLayout(string folder) =>
        File.Exists(Path.Combine(folder, "mount.sh")) && File.Exists(Path.Combine(folder, ImageFolder.PlainManifestFile));

    /// <summary>Layers are extracted each into its own folder, so they may come in any order, several at once.</summary>
    public LayerDelivery Delivery => LayerDelivery.DistinctInParallel;

    public IReadOnlyCollection<LayerCompression> StoredCompressions => [];

    public int? ParallelLayers { get; }

    public async Task<StoredLayer> WriteLayerAsync(LayerContent layer, CancellationToken ct)
    {
        if (layer.Compression != LayerCompression.None)
            throw new InvalidOperationException("mounts:// extracts uncompressed layers");
        string building = Path.Combine(_work, $".layer-{Guid.NewGuid():N}.partial");
        Directory.CreateDirectory(Path.Combine(building, "layer"));
        try
        {
            ExtractReport report;
            await using (var file = new FileStream(Path.Combine(building, "layer.tar"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1024 * 1024))
            using (var extractor = new LayerExtractor(Path.Combine(building, "layer"), new ExtractOptions { Whiteouts = WhiteoutMode.Overlay }))
            {
                await extractor.ApplyLayerAsync(layer.Stream, $"{layer.Index + 1}", file, ct).ConfigureAwait(false);
                report = extractor.Finish();
            }
            lock (_gate)
            {
                foreach (var (reason, count) in report.Skipped) _skipped[reason] = _skipped.GetValueOrDefault(reason) + count;
                string final = Path.Combine(_work, layer.DiffId.Hex);
                if (_written.Add(layer.DiffId) && !Directory.Exists(final)) Directory.Move(building, final);
            }
            return StoredLayer.Tar;
        }
        finally
        {
            if (Directory.Exists(building)) Trees.Remove(building);
        }
    }

    public async Task<CommitResult> CommitAsync(ImageResult image, CancellationToken ct)
    {
        foreach (var l in image.Layers)
            if (!_written.Contains(l.DiffId)) throw new InvalidOperationException($"layer {l.DiffId} was never written");
        if (_skipped.Count > 0)
            _log.LogWarning("{Folder}: not reproduced: {What}", _target, string.Join(", ", _skipped.Select(s => $"{s.Value} {s.Key}")));
        var configDigest = ImageFolder.WriteImageFiles(_work, image, uniqueNames: false);
        ImageFolder.AddToCatalog(_work, image.Name, ImageFolder.PlainManifestFile);
        AtomicFile.WriteAllBytes(Path.Combine(_work, "container-config.json"), image.Config.Span);
        foreach (string dir in new[] { "rootfs", "working", "delta" }) Directory.CreateDirectory(Path.Combine(_work, dir));

        // Newest layer first: overlayfs's lowerdir order.
        var lowers = image.Layers.Select(l => l.DiffId.Hex).Reverse().Distinct().Select(h => $"{h}/layer").ToList();
        var spec = RuntimeSpec.Build(image.Config, path => ReadMerged(lowers, path), rootless: false, 0, 0);
        AtomicFile.WriteAllBytes(Path.Combine(_work, "config.json"), JsonText.Serialize(spec));
        WriteScript("mount.sh", MountScript(lowers));
        WriteScript("umount.sh", "#!/bin/sh\n# Unmounts rootfs/.\nset -e\ncd \"$(dirname \"$0\")\"\numount rootfs\n");

        Trees.Replace(_work, _target);
        _committed = true;
        _log.LogInformation("wrote the overlay layout of {Image} to {Folder}", image.Name.ToString(), _target);
        if (_mount) await MountAsync(ct).ConfigureAwait(false);
        return new CommitResult(null, configDigest);
    }

    /// <summary>
    /// Mounts with the <c>lowerdir+=</c> syntax of the new mount API (util-linux 2.41 and later need it
    /// for many layers) first, and falls back to the classic colon-separated list.
    /// </summary>
    private static string MountScript(IReadOnlyList<string> lowers)
    {
        var script = new StringBuilder();
        script.Append("#!/bin/sh\n# Mounts the image's layers at rootfs/ with overlayfs (as root). Written by occystrap.\n");
        script.Append("set -e\ncd \"$(dirname \"$0\")\"\nhere=$(pwd)\n");
        script.Append("new=\"").Append(string.Join(",", lowers.Select(l => $"lowerdir+=$here/{l}"))).Append(",upperdir=$here/delta,workdir=$here/working\"\n");
        script.Append("old=\"lowerdir=").Append(string.Join(":", lowers.Select(l => $"$here/{l}"))).Append(",upperdir=$here/delta,workdir=$here/working\"\n");
        script.Append("mount -t overlay overlay -o \"$new\" \"$here/rootfs\" 2>/dev/null || mount -t overlay overlay -o \"$old\" \"$here/rootfs\"\n");
        return script.ToString();
    }

    private void WriteScript(string name, string text)
    {
        string path = Path.Combine(_work, name);
        AtomicFile.WriteAllBytes(path, Encoding.UTF8.GetBytes(text));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    private async Task MountAsync(CancellationToken ct)
    {
        var psi = new ProcessStartInfo("sh") { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add(Path.Combine(_target, "mount.sh"));
        using var process = Process.Start(psi) ?? throw new OccystrapException("cannot start sh to mount the layout");
        string error = await process.StandardError.ReadToEndAsync(ct).ConfigureAwait(false);
        await process.WaitForExitAsync(ct).ConfigureAwait(false);
        if (process.ExitCode != 0)
            throw new OccystrapException($"the layout is written, but mounting it failed: {error.Trim().Split('\n').LastOrDefault()}");
        _log.LogInformation("mounted {Rootfs}", Path.Combine(_target, "rootfs"));
    }

    /// <summary>A file of the merged image: the newest layer that has it, unless a newer one whites it out.</summary>
    private IReadOnlyList<string> ReadMerged(IReadOnlyList<string> lowers, string path)
    {
        foreach (string lower in lowers)
        {
            string root = Path.Combine(_work, lower);
            string? host = RootfsFiles.Resolve(root, path);
            if (host is null) continue;
            if (FileKind.Of(host) == FileKindValue.CharacterDevice) return [];
            return RootfsFiles.Lines(root, path);
        }
        return [];
    }

    private static bool IsMounted(string path) =>
        File.Exists("/proc/self/mountinfo")
        && File.ReadLines("/proc/self/mountinfo").Any(l => l.Split(' ') is { Length: > 4 } f && f[4] == path);

    public ValueTask DisposeAsync()
    {
        if (!_committed)
        {
            Trees.RemoveUnfinished(_work, _log);
        }
        return ValueTask.CompletedTask;
    }
}
