using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Extract;
using Occystrap.Formats.Folders;
using Occystrap.Formats.Images;

namespace Occystrap.Formats.Bundles;

/// <summary>
/// Writes an image as an OCI runtime bundle that runc runs: <c>rootfs/</c> (the layers applied in
/// order by the safe extractor, whiteouts applied), <c>config.json</c> (see <see cref="RuntimeSpec"/>)
/// and the image config as <c>container-config.json</c>. Built beside its destination and renamed
/// into place at the end, replacing an earlier bundle there.
/// </summary>
public sealed class RuntimeBundleWriter : IImageSink
{
    private readonly string _target;
    private readonly string _work;
    private readonly string _rootfs;
    private readonly bool _rootless;
    private readonly ILogger _log;
    private readonly LayerExtractor _extractor;
    private readonly HashSet<Digest> _written = [];
    private bool _committed;

    public RuntimeBundleWriter(string folder, bool rootless, ILogger log)
    {
        _target = Path.GetFullPath(folder);
        _rootless = rootless;
        _log = log;
        Trees.CheckDestination(_target, folder, IsBundle, "a runtime bundle");
        _work = Trees.Beside(_target);
        _rootfs = Path.Combine(_work, "rootfs");
        Directory.CreateDirectory(_rootfs);
        _extractor = new LayerExtractor(_rootfs, new ExtractOptions { Whiteouts = WhiteoutMode.Apply });
    }

    /// <summary>A folder with a config.json and a rootfs: a bundle an earlier run wrote, which may be replaced.</summary>
    public static bool IsBundle(string folder) =>
        File.Exists(Path.Combine(folder, "config.json")) && Directory.Exists(Path.Combine(folder, "rootfs"));

    public LayerDelivery Delivery => LayerDelivery.EveryLayerInOrder;

    public IReadOnlyCollection<LayerCompression> StoredCompressions => [];

    public async Task<StoredLayer> WriteLayerAsync(LayerContent layer, CancellationToken ct)
    {
        if (layer.Compression != LayerCompression.None)
            throw new InvalidOperationException("a runtime bundle is extracted from uncompressed layers");
        await _extractor.ApplyLayerAsync(layer.Stream, $"{layer.Index + 1}", copyTo: null, ct).ConfigureAwait(false);
        _written.Add(layer.DiffId);
        return StoredLayer.Tar;
    }

    public Task<CommitResult> CommitAsync(ImageResult image, CancellationToken ct)
    {
        foreach (var l in image.Layers)
            if (!_written.Contains(l.DiffId)) throw new InvalidOperationException($"layer {l.DiffId} was never written");
        var report = _extractor.Finish();
        if (report.Warning is { } warning) _log.LogWarning("{Folder}: {Warning}", _target, warning);
        if (_rootless && ImageConfig.Parse(image.Config).Config.User is { Length: > 0 } user && RuntimeSpec.ResolveUser(user, path => RootfsFiles.Lines(_rootfs, path)) is not (0, 0, _, _))
            _log.LogWarning("the image's user '{User}' cannot be mapped in a rootless bundle; it runs as root of its user namespace, which is the user who runs it", user);
        var spec = RuntimeSpec.Build(image.Config, _rootfs, _rootless, Extract.Native.geteuid(), Extract.Native.getegid());
        AtomicFile.WriteAllBytes(Path.Combine(_work, "config.json"), JsonText.Serialize(spec));
        AtomicFile.WriteAllBytes(Path.Combine(_work, "container-config.json"), image.Config.Span);
        Trees.Replace(_work, _target);
        _committed = true;
        _log.LogInformation("wrote the runtime bundle of {Image} to {Folder}", image.Name.ToString(), _target);
        return Task.FromResult(new CommitResult(null, Digest.Compute(image.Config.Span)));
    }

    public ValueTask DisposeAsync()
    {
        _extractor.Dispose();
        if (!_committed)
        {
            Trees.RemoveUnfinished(_work, _log);
        }
        return ValueTask.CompletedTask;
    }
}
