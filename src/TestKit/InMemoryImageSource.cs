using Occystrap.Abstractions;

namespace Occystrap.TestKit;

/// <summary>An image held in memory: config, optional manifest, and layers whose stored bytes are byte arrays.</summary>
public sealed class InMemoryImageSource(ImageName name, ReadOnlyMemory<byte> config, ImageDocument? manifest, IReadOnlyList<InMemoryLayer> layers) : IImageSource
{
    public ImageName Name => name;
    public ReadOnlyMemory<byte> Config => config;
    public ImageDocument? Manifest => manifest;
    public IReadOnlyList<ISourceLayer> Layers => layers;

    /// <summary>The layers with their bytes, for assertions.</summary>
    public IReadOnlyList<InMemoryLayer> StoredLayers => layers;

    /// <summary>How many times any layer was opened.</summary>
    public int Opens => layers.Sum(l => l.Opens);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>One layer of an <see cref="InMemoryImageSource"/>: its tar, and the bytes it is stored as.</summary>
public sealed class InMemoryLayer : ISourceLayer
{
    private int _opens;

    public InMemoryLayer(int index, byte[] tar, byte[] stored, LayerCompression compression, string? mediaType, BlobLocation? location = null)
    {
        Index = index;
        Tar = tar;
        Stored = stored;
        Compression = compression;
        MediaType = mediaType;
        Location = location;
        DiffId = Digest.Compute(tar);
        BlobDigest = Digest.Compute(stored);
    }

    public int Index { get; }
    public byte[] Tar { get; }
    public byte[] Stored { get; }
    public Digest DiffId { get; }
    public LayerCompression Compression { get; }
    public Digest? BlobDigest { get; }
    public long? StoredSize => Stored.Length;
    public string? MediaType { get; }
    public BlobLocation? Location { get; }
    public int Opens => _opens;

    public Task<Stream> OpenAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _opens);
        return Task.FromResult<Stream>(new MemoryStream(Stored, writable: false));
    }
}
