using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Images;
using Occystrap.Formats.Tar;

namespace Occystrap.Formats.Archives;

/// <summary>
/// Writes a docker-save (v1.2) archive that <c>docker load</c>, <c>podman load</c> and skopeo's
/// <c>docker-archive:</c> read: <c>DIFFID/layer.tar</c> (uncompressed), <c>CONFIGID.json</c>,
/// <c>manifest.json</c> and <c>repositories</c>. Layers stream straight into the archive: each header
/// is written as a placeholder and filled in once the layer's digest and size are known, so no layer
/// is spooled to a temporary file. Entry headers carry fixed times and owners, so the same image
/// gives the same bytes.
/// </summary>
public sealed class DockerArchiveWriter : IImageSink
{
    private readonly AtomicFile _file;
    private readonly TarArchiveWriter _tar;
    private readonly HashSet<Digest> _written = [];
    private readonly ImageName? _nameOverride;

    public DockerArchiveWriter(string path, ImageName? name = null)
    {
        _file = new AtomicFile(path);
        _tar = new TarArchiveWriter(_file.Stream, leaveOpen: true);
        _nameOverride = name;
    }

    /// <summary>One file, written front to back: layers come in image order, one at a time.</summary>
    public LayerDelivery Delivery => LayerDelivery.EveryLayerInOrder;

    /// <summary>docker load wants plain tars.</summary>
    public IReadOnlyCollection<LayerCompression> StoredCompressions => [];

    public async Task<StoredLayer> WriteLayerAsync(LayerContent layer, CancellationToken cancellationToken)
    {
        if (layer.Compression != LayerCompression.None)
            throw new InvalidOperationException("docker-save archives hold uncompressed layers");
        long headerOffset = _tar.WritePlaceholderFileHeader();
        long start = _file.Stream.Position;
        await layer.Stream.CopyToAsync(_file.Stream, 1024 * 1024, cancellationToken).ConfigureAwait(false);
        long size = _file.Stream.Position - start;
        var diffId = layer.DiffId;
        _tar.CompleteStreamedContent(size);

        if (!_written.Add(diffId))
        {
            // The same layer twice (an image may list one layer more than once): drop the second copy.
            _file.Stream.SetLength(headerOffset);
            _file.Stream.Position = headerOffset;
            _tar.Rewind(headerOffset);
            return StoredLayer.Tar;
        }
        long end = _file.Stream.Position;
        _file.Stream.Position = headerOffset;
        _file.Stream.Write(TarArchiveWriter.BuildFileHeader($"{diffId.Hex}/layer.tar", size));
        _file.Stream.Position = end;
        return StoredLayer.Tar;
    }

    public Task<CommitResult> CommitAsync(ImageResult image, CancellationToken cancellationToken)
    {
        var configDigest = Digest.Compute(image.Config.Span);
        var layerPaths = image.Layers.Select(l => $"{l.DiffId.Hex}/layer.tar").ToList();
        foreach (var l in image.Layers)
            if (!_written.Contains(l.DiffId)) throw new InvalidOperationException($"layer {l.DiffId} was never written");

        foreach (var dir in image.Layers.Select(l => l.DiffId.Hex).Distinct())
        {
            WriteSmall($"{dir}/VERSION", "1.0"u8.ToArray());
        }
        string configName = $"{configDigest.Hex}.json";
        WriteSmall(configName, image.Config.ToArray());

        var name = _nameOverride ?? image.Name;
        var tags = new JsonArray();
        if (!name.IsUnnamed && name.Tag is not null) tags.Add(name.ToString());
        var manifest = new JsonArray
        {
            new JsonObject
            {
                ["Config"] = configName,
                ["RepoTags"] = tags,
                ["Layers"] = new JsonArray(layerPaths.Select(p => (JsonNode)JsonValue.Create(p)!).ToArray()),
            },
        };
        WriteSmall("manifest.json", JsonText.Serialize(manifest));

        var repositories = new JsonObject();
        if (!name.IsUnnamed && name.Tag is not null && image.Layers.Count > 0)
            repositories[name.Repository] = new JsonObject { [name.Tag] = image.Layers[^1].DiffId.Hex };
        WriteSmall("repositories", JsonText.Serialize(repositories));

        _tar.Finish();
        _file.Commit();
        return Task.FromResult(new CommitResult(null, configDigest));
    }

    private void WriteSmall(string name, byte[] content)
    {
        var entry = new LayerEntry(name, EntryKind.File, content.Length)
        {
            Mode = 0x1A4,
            ModificationTime = DateTimeOffset.UnixEpoch,
        };
        _tar.WriteEntry(entry, new MemoryStream(content));
    }

    public ValueTask DisposeAsync()
    {
        _tar.Dispose();
        _file.Dispose();
        return ValueTask.CompletedTask;
    }
}
