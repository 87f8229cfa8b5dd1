using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Extract;
using Occystrap.Formats.Images;

namespace Occystrap.Formats.Folders;

/// <summary>
/// Writes an image as a dir:// folder (see <see cref="ImageFolder"/>).
/// <list type="bullet">
/// <item>A plain folder is built beside its destination under a hidden name and renamed into place at
/// the end, replacing an earlier dir:// folder there; a folder that is neither empty nor a dir://
/// layout is refused.</item>
/// <item>With unique names, images are added to the folder where it stands, file by file, each file
/// atomic: several images, one after another or from several processes at once, share it, each
/// layer stored once, the catalog merged under a lock.</item>
/// <item>With expand, the layers are also applied in order, whiteouts applied, by the safe extractor
/// into <c>PATH/MANIFEST-NAME/</c> as they stream by: one pass, no temporary tar.</item>
/// </list>
/// </summary>
public sealed class ImageFolderWriter : IImageSink
{
    private readonly string _target;
    private readonly string _work;
    private readonly bool _uniqueNames;
    private readonly bool _expand;
    private readonly bool _created;
    private readonly ILogger _log;
    private readonly ExtractOptions _extractOptions;
    private readonly HashSet<Digest> _written = [];
    private readonly object _gate = new();
    private LayerExtractor? _extractor;
    private string? _tree;
    private bool _committed;

    /// <param name="folder">The destination folder.</param>
    /// <param name="uniqueNames">Name the manifest after the image and add to an existing folder.</param>
    /// <param name="expand">Also apply the layers into a merged tree.</param>
    /// <param name="parallel">Layers written at once (without expand).</param>
    public ImageFolderWriter(string folder, bool uniqueNames, bool expand, int parallel, ILogger log, ExtractOptions? extractOptions = null)
    {
        _target = Path.GetFullPath(folder);
        _uniqueNames = uniqueNames;
        _expand = expand;
        _log = log;
        _extractOptions = extractOptions ?? new ExtractOptions();
        ParallelLayers = parallel;
        Trees.CheckDestination(_target, folder, ImageFolder.IsLayout, "a dir:// layout");
        if (uniqueNames)
        {
            _created = !Directory.Exists(_target);
            Directory.CreateDirectory(_target);
            ImageFolder.EnsureCatalog(_target);
            _work = _target;
        }
        else
        {
            _work = Trees.Beside(_target);
            Directory.CreateDirectory(_work);
        }
    }

    /// <summary>Expanding applies every layer in image order; otherwise distinct layers are written in parallel.</summary>
    public LayerDelivery Delivery => _expand ? LayerDelivery.EveryLayerInOrder : LayerDelivery.DistinctInParallel;

    /// <summary>Layers are stored as plain tars.</summary>
    public IReadOnlyCollection<LayerCompression> StoredCompressions => [];

    public int? ParallelLayers { get; }

    public async Task<StoredLayer> WriteLayerAsync(LayerContent layer, CancellationToken ct)
    {
        if (layer.Compression != LayerCompression.None)
            throw new InvalidOperationException("dir:// folders hold uncompressed layers");
        string spool = Path.Combine(_work, $".layer-{Guid.NewGuid():N}.partial");
        try
        {
            await using (var file = new FileStream(spool, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1024 * 1024, FileOptions.Asynchronous))
            {
                if (!_expand)
                    await layer.Stream.CopyToAsync(file, 1024 * 1024, ct).ConfigureAwait(false);
                else
                    // One pass: the extractor reads the layer, and what it reads goes to layer.tar on the way.
                    await ExtractorFor().ApplyLayerAsync(layer.Stream, $"{layer.Index + 1}", file, ct).ConfigureAwait(false);
            }
            var diffId = layer.DiffId;
            string directory = Path.Combine(_work, diffId.Hex);
            string final = Path.Combine(directory, "layer.tar");
            lock (_gate) _written.Add(diffId);
            if (File.Exists(final))
            {
                // Stored before (by this image or another): the same diff_id is the same bytes.
                File.Delete(spool);
                return StoredLayer.Tar;
            }
            Directory.CreateDirectory(directory);
            File.Move(spool, final, overwrite: true);
            return StoredLayer.Tar;
        }
        finally
        {
            if (File.Exists(spool)) File.Delete(spool);
        }
    }

    private LayerExtractor ExtractorFor()
    {
        if (_extractor is not null) return _extractor;
        // Built under a hidden name and renamed into place at the end, so a failed run leaves no half tree.
        _tree = Path.Combine(_work, $".tree.{Guid.NewGuid():N}.partial");
        Directory.CreateDirectory(_tree);
        return _extractor = new LayerExtractor(_tree, _extractOptions);
    }

    public Task<CommitResult> CommitAsync(ImageResult image, CancellationToken ct)
    {
        foreach (var l in image.Layers)
            if (!_written.Contains(l.DiffId)) throw new InvalidOperationException($"layer {l.DiffId} was never written");
        var configDigest = ImageFolder.WriteImageFiles(_work, image, _uniqueNames);
        string manifestName = ImageFolder.ManifestFileName(image.Name, _uniqueNames);

        if (_expand)
        {
            var extractor = ExtractorFor();
            var report = extractor.Finish();
            if (report.Warning is { } warning) _log.LogWarning("{Folder}: {Warning}", _target, warning);
            string treeName = Path.GetFileNameWithoutExtension(manifestName);
            Trees.Replace(_tree!, Path.Combine(_work, treeName));
        }

        ImageFolder.AddToCatalog(_work, image.Name, manifestName);
        if (!_uniqueNames) Trees.Replace(_work, _target);
        _committed = true;
        _log.LogInformation("wrote {Image} to {Folder}", image.Name.ToString(), _target);
        return Task.FromResult(new CommitResult(null, configDigest));
    }

    public ValueTask DisposeAsync()
    {
        _extractor?.Dispose();
        if (_committed) return ValueTask.CompletedTask;
        try
        {
            if (_tree is not null && Directory.Exists(_tree)) Trees.Remove(_tree);
            if (!_uniqueNames) Trees.Remove(_work);
            // A folder this run made goes again, unless another writer has put an image in it meanwhile.
            else if (_created && ImageFolder.ReadCatalog(_target).Count == 0) Trees.Remove(_target);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or OccystrapException)
        {
            _log.LogWarning("could not remove the unfinished folder {Folder}: {Reason}", _work, e.Message);
        }
        return ValueTask.CompletedTask;
    }
}
