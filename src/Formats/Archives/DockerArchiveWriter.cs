using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Images;
using Occystrap.Formats.IO;
using Occystrap.Formats.Tar;

namespace Occystrap.Formats.Archives;

/// <summary>
/// Writes a docker-save (v1.2) archive that <c>docker load</c>, <c>podman load</c> and skopeo's
/// <c>docker-archive:</c> read: <c>DIFFID/layer.tar</c> (uncompressed), <c>CONFIGID.json</c>,
/// <c>manifest.json</c> and <c>repositories</c>. Layers stream straight into the archive: each header
/// is written as a placeholder and filled in once the layer's digest and size are known, so no layer
/// is spooled to a temporary file. Entry headers carry fixed times and owners, so the same image
/// gives the same bytes.
/// <para>
/// A destination that cannot be renamed over or seeked in (<c>-</c> for standard output, a FIFO, a
/// character device, or a symlink to one) is written front to back as a stream instead: each layer is
/// spooled to a temporary file first, because its entry header needs its digest and size. The bytes
/// are the same as the file's.
/// </para>
/// </summary>
public sealed class DockerArchiveWriter : IImageSink
{
    private readonly AtomicFile? _file;
    private readonly Stream _out;
    private readonly string? _spoolDirectory;
    private readonly TarArchiveWriter _tar;
    private readonly HashSet<Digest> _written = [];
    private readonly ImageName? _nameOverride;

    /// <param name="path">A file path, or <c>-</c> for standard output.</param>
    /// <param name="spoolDirectory">Where layers wait when the destination is a stream (default: the system's temporary folder).</param>
    public DockerArchiveWriter(string path, ImageName? name = null, string? spoolDirectory = null)
    {
        _nameOverride = name;
        if (IsStream(path))
        {
            _spoolDirectory = spoolDirectory ?? Path.GetTempPath();
            _out = path == "-" ? Console.OpenStandardOutput() : OpenStream(path);
        }
        else
        {
            _file = new AtomicFile(path);
            _out = _file.Stream;
        }
        _tar = new TarArchiveWriter(_out, leaveOpen: true);
    }

    /// <summary>Writes the archive into <paramref name="output"/>, front to back (a pipe, a request body); it is not disposed.</summary>
    public DockerArchiveWriter(Stream output, ImageName? name, string spoolDirectory)
    {
        _nameOverride = name;
        _spoolDirectory = spoolDirectory;
        _out = output;
        _leaveOutOpen = true;
        _tar = new TarArchiveWriter(_out, leaveOpen: true);
    }

    private readonly bool _leaveOutOpen;

    /// <summary>True for <c>-</c> and for what a file cannot be renamed over: FIFOs, character devices, sockets, and symlinks to them.</summary>
    public static bool IsStream(string path) =>
        path == "-" || FileKind.Of(path, follow: true) is FileKindValue.Fifo or FileKindValue.CharacterDevice or FileKindValue.Socket;

    private static FileStream OpenStream(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OccystrapException($"cannot write {path}: {e.Message}");
        }
    }

    /// <summary>One file, written front to back: layers come in image order, one at a time.</summary>
    public LayerDelivery Delivery => LayerDelivery.EveryLayerInOrder;

    /// <summary>docker load wants plain tars.</summary>
    public IReadOnlyCollection<LayerCompression> StoredCompressions => [];

    public async Task<StoredLayer> WriteLayerAsync(LayerContent layer, CancellationToken cancellationToken)
    {
        if (layer.Compression != LayerCompression.None)
            throw new InvalidOperationException("docker-save archives hold uncompressed layers");
        if (_file is null) return await SpoolLayerAsync(layer, cancellationToken).ConfigureAwait(false);
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

    private async Task<StoredLayer> SpoolLayerAsync(LayerContent layer, CancellationToken cancellationToken)
    {
        if (layer.KnownDiffId is { } known && layer.KnownLength is { } length)
        {
            // Nothing changes the layer on its way and its size is known: the header can go first. The
            // pipeline verifies the bytes against the diff_id as they pass and fails the run (and so the
            // stream) on a mismatch.
            if (!_written.Add(known))
            {
                await layer.Stream.CopyToAsync(Stream.Null, 1024 * 1024, cancellationToken).ConfigureAwait(false);
                return StoredLayer.Tar;
            }
            _tar.WriteFileHeader($"{known.Hex}/layer.tar", length);
            var counted = new DeclaredSizeStream(layer.Stream, length, $"layer {known.Short}");
            await counted.CopyToAsync(_out, 1024 * 1024, cancellationToken).ConfigureAwait(false);
            _tar.CompleteStreamedContent(length);
            return StoredLayer.Tar;
        }
        // Deleted when closed, whatever happens.
        string spool = Path.Combine(_spoolDirectory!, $".occystrap-layer-{Guid.NewGuid():N}.tar");
        await using var file = new FileStream(spool, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1024 * 1024,
            FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        await layer.Stream.CopyToAsync(file, 1024 * 1024, cancellationToken).ConfigureAwait(false);
        var diffId = layer.DiffId;
        if (!_written.Add(diffId)) return StoredLayer.Tar;
        _tar.WriteFileHeader($"{diffId.Hex}/layer.tar", file.Length);
        file.Position = 0;
        await file.CopyToAsync(_out, 1024 * 1024, cancellationToken).ConfigureAwait(false);
        _tar.CompleteStreamedContent(file.Length);
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
        if (!name.IsUnnamed && name.Tag is not null) tags.Add(JsonValue.Create(name.ToString()));
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
        if (_file is not null) _file.Commit();
        else _out.Flush();
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
        if (_file is not null) _file.Dispose();
        else if (!_leaveOutOpen) _out.Dispose();
        return ValueTask.CompletedTask;
    }
}
