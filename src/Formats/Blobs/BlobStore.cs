using Occystrap.Abstractions;
using Occystrap.Formats.IO;

namespace Occystrap.Formats.Blobs;

/// <summary>
/// A folder of content-addressed blobs. A blob is written to a temporary file beside the store,
/// hashed as it is written, checked against the digest it should have (when known), and only then
/// renamed to its digest's path, so a reader only ever sees complete, verified blobs. Writers of the
/// same blob, in one process or several, race harmlessly: each renames identical bytes into place.
/// Where a digest lives is the store's <see cref="PathOf"/> rule: <c>blobs/ALG/HEX</c> for an OCI layout.
/// </summary>
public sealed class BlobStore
{
    private readonly Func<Digest, string> _relativePath;

    public BlobStore(string root, Func<Digest, string> relativePath)
    {
        Root = Path.GetFullPath(root);
        _relativePath = relativePath;
    }

    /// <summary>The OCI image layout's rule: <c>blobs/&lt;algorithm&gt;/&lt;hex&gt;</c>.</summary>
    public static BlobStore OciLayout(string root) => new(root, d => Path.Combine("blobs", d.Algorithm, d.Hex));

    public string Root { get; }

    public string PathOf(Digest digest) => Path.Combine(Root, _relativePath(digest));

    public bool Contains(Digest digest) => File.Exists(PathOf(digest));

    /// <summary>Opens a stored blob as it is on disk; the reader verifies it (see <see cref="HashingReadStream"/>).</summary>
    public Stream OpenRead(Digest digest) =>
        new FileStream(PathOf(digest), FileMode.Open, FileAccess.Read, FileShare.Read, 1024 * 1024, FileOptions.SequentialScan);

    /// <summary>
    /// Stores the bytes <paramref name="write"/> writes. With <paramref name="expected"/> they are hashed
    /// with its algorithm and must match it; otherwise they are named by their sha256.
    /// </summary>
    /// <param name="verifiedByWriter">The bytes come from a stream that checks them against <paramref name="expected"/>
    /// itself and throws on a mismatch (a pipeline layer): they are not hashed a second time.</param>
    /// <returns>The digest, the size, and whether this call added the blob (false when it was there already).</returns>
    public async Task<(Digest Digest, long Size, bool Added)> WriteAsync(Func<Stream, CancellationToken, Task> write, Digest? expected, CancellationToken ct,
        bool verifiedByWriter = false)
    {
        Directory.CreateDirectory(Root);
        string temp = Path.Combine(Root, $".blob-{Guid.NewGuid():N}.partial");
        try
        {
            Digest digest;
            long size;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1024 * 1024))
            {
                if (verifiedByWriter && expected is { } trusted)
                {
                    await write(file, ct).ConfigureAwait(false);
                    digest = trusted;
                    size = file.Length;
                }
                else
                {
                    await using var hash = new HashingWriteStream(file, leaveOpen: true, expected?.Algorithm ?? Digest.Sha256Algorithm);
                    await write(hash, ct).ConfigureAwait(false);
                    digest = hash.Complete();
                    size = hash.BytesWritten;
                }
            }
            if (expected is { } e && e != digest)
                throw new DigestMismatchException($"blob written to {Root}", e.ToString(), digest.ToString());
            string target = PathOf(digest);
            if (File.Exists(target))
            {
                File.Delete(temp);
                return (digest, size, false);
            }
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Move(temp, target, overwrite: true);
            return (digest, size, true);
        }
        catch
        {
            try { File.Delete(temp); }
            catch (IOException) { }
            throw;
        }
    }

    /// <summary>Stores a small blob held in memory (a config, a manifest).</summary>
    public Task<(Digest Digest, long Size, bool Added)> PutAsync(ReadOnlyMemory<byte> content, CancellationToken ct, Digest? expected = null) =>
        WriteAsync((s, t) => s.WriteAsync(content, t).AsTask(), expected ?? Digest.Compute(content.Span), ct);

    /// <summary>Reads a small blob whole, checking its digest and, when given, its size and a limit.</summary>
    /// <param name="verify">False only for check, which compares the bytes with their descriptor itself and reports what disagrees.</param>
    public byte[] ReadVerified(Digest digest, long? size, string what, long limit = 16 * 1024 * 1024, bool verify = true)
    {
        string path = PathOf(digest);
        if (!File.Exists(path)) throw new OccystrapException($"{what}: blob {digest} is missing");
        long length = new FileInfo(path).Length;
        if (length > limit) throw new OccystrapException($"{what}: blob {digest} is {length} bytes, more than the {limit} allowed for it");
        byte[] bytes = File.ReadAllBytes(path);
        if (verify) digest.Verify(bytes, $"{what}: blob {digest}");
        if (size is { } s && s != bytes.Length)
            throw new OccystrapException($"{what}: blob {digest} is {bytes.Length} bytes, but its descriptor says {s}");
        return bytes;
    }
}
