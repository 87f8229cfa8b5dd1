using Occystrap.Abstractions;
using Occystrap.Formats.Compression;

namespace Occystrap.Formats.Archives;

/// <summary>A layer stored as a member of a tar file on disk.</summary>
public sealed class ArchiveLayer : ISourceLayer
{
    private readonly ArchiveIndex _index;
    private readonly ArchiveIndex.Member _member;

    public ArchiveLayer(ArchiveIndex index, ArchiveIndex.Member member, int layerIndex, Digest diffId, Digest? blobDigest, string? mediaType)
    {
        _index = index;
        _member = member;
        Index = layerIndex;
        DiffId = diffId;
        MediaType = mediaType;
        using var s = index.Open(member);
        Compression = LayerCompressionCodec.Detect(s);
        // A blob named by its digest is verified against that name; a plain tar's digest is its diff_id.
        BlobDigest = blobDigest ?? (Compression == LayerCompression.None ? diffId : null);
    }

    public int Index { get; }
    public Digest DiffId { get; }
    public LayerCompression Compression { get; }
    public Digest? BlobDigest { get; }
    public long? StoredSize => _member.Size;
    public string? MediaType { get; }

    /// <summary>Where the layer lies in the archive, for messages.</summary>
    public string MemberName => _member.Name;

    public Task<Stream> OpenAsync(CancellationToken cancellationToken) => Task.FromResult(_index.Open(_member));
}
