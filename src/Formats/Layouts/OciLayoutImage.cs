using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Blobs;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Images;

namespace Occystrap.Formats.Layouts;

/// <summary>
/// An image in an OCI image layout folder (what <c>skopeo copy … oci:DIR:REF</c>, buildah and umoci
/// write): chosen by ref name, through nested indexes by platform. The manifest and config are checked
/// against their digests and sizes as they are read; every layer blob is checked as it streams.
/// </summary>
public sealed class OciLayoutImage : IImageSource
{
    private OciLayoutImage(OciImageChoice choice, IReadOnlyList<ISourceLayer> layers)
    {
        Name = choice.Name;
        RefName = choice.RefName;
        Config = choice.Config;
        Manifest = choice.Manifest;
        Index = choice.Index;
        IndexEntry = choice.IndexEntry;
        Layers = layers;
    }

    public ImageName Name { get; }

    /// <summary>The ref name the image has in the layout, when it has one.</summary>
    public string? RefName { get; }

    public ReadOnlyMemory<byte> Config { get; }
    public ImageDocument Manifest { get; }
    ImageDocument? IImageSource.Manifest => Manifest;
    public ImageDocument? Index { get; }
    public Descriptor? IndexEntry { get; }
    public IReadOnlyList<ISourceLayer> Layers { get; }

    /// <param name="refName">Which image (its <c>org.opencontainers.image.ref.name</c>); null takes the only one.</param>
    /// <param name="problems">Set by check: blobs that disagree with their descriptors and a layer count that disagrees are reported there, and reading goes on.</param>
    public static OciLayoutImage Open(string folder, string? refName, PlatformChoice platform, ILogger? log = null, IImageProblems? problems = null)
    {
        if (!Directory.Exists(folder))
            throw new OccystrapException(File.Exists(folder) ? $"{folder} is a file, not an OCI image layout folder" : $"{folder}: no such folder");
        OciLayout.CheckVersion(folder);
        var index = OciLayout.ReadIndex(folder);
        var store = OciLayout.Blobs(folder);
        Func<Descriptor, byte[]> read = problems is null
            ? d => store.ReadVerified(d.Digest, d.Size, folder)
            : d =>
            {
                byte[] bytes = store.ReadVerified(d.Digest, null, folder, verify: false);
                DescriptorCheck.Check(bytes, d, $"{folder}: blob {d.Digest}", problems);
                return bytes;
            };
        var choice = OciIndexSelection.Choose(index, refName, platform, read, folder, firstWhenSeveral: false, log, problems);
        var layers = new List<ISourceLayer>();
        for (int i = 0; i < Math.Min(choice.Parsed.Layers.Count, choice.DiffIds.Count); i++)
        {
            var d = choice.Parsed.Layers[i];
            if (!store.Contains(d.Digest))
                throw new OccystrapException($"{folder}: layer {i + 1} (blob {d.Digest}) is missing from the layout");
            var compression = MediaTypeTable.LayerCompressionOf(d.MediaType);
            if (compression is null)
            {
                using var probe = store.OpenRead(d.Digest);
                compression = LayerCompressionCodec.Detect(probe);
            }
            layers.Add(new LayoutLayer(store, i, choice.DiffIds[i], d, compression.Value));
        }
        return new OciLayoutImage(choice, layers);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class LayoutLayer(BlobStore store, int index, Digest diffId, Descriptor blob, LayerCompression compression) : ISourceLayer
    {
        public int Index => index;
        public Digest DiffId => diffId;
        public LayerCompression Compression => compression;
        public Digest? BlobDigest => blob.Digest;
        public long? StoredSize => blob.Size;
        public string? MediaType => blob.MediaType;

        public Task<Stream> OpenAsync(CancellationToken cancellationToken)
        {
            var stream = store.OpenRead(blob.Digest);
            if (stream.Length != blob.Size)
            {
                long actual = stream.Length;
                stream.Dispose();
                throw new OccystrapException($"layer {index + 1} (blob {blob.Digest}) is {actual} bytes, but the manifest says {blob.Size}");
            }
            return Task.FromResult(stream);
        }
    }
}
