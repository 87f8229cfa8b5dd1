using Occystrap.Abstractions;

namespace Occystrap.Formats.IO;

/// <summary>
/// Stops a blob at the size its descriptor declares: one byte more fails the read, so a source that
/// keeps sending can neither fill a disk nor pass a longer blob off as the declared one. A blob that
/// ends short is left to the digest check.
/// </summary>
public sealed class DeclaredSizeStream(Stream inner, long declared, string what) : ReadOnlyStream
{
    private long _read;

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(Window(buffer.Length) is var w && w < buffer.Length ? buffer[..w] : buffer);
        return Count(n);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int w = Window(buffer.Length);
        int n = await inner.ReadAsync(w < buffer.Length ? buffer[..w] : buffer, cancellationToken).ConfigureAwait(false);
        return Count(n);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>At most what is left, plus one byte to notice a blob that is too long.</summary>
    private int Window(int wanted) => (int)Math.Min(wanted, Math.Max(0, declared - _read) + 1);

    private int Count(int n)
    {
        _read += n;
        if (_read > declared)
            throw new OccystrapException($"{what}: the blob is longer than the {declared} bytes its descriptor declares");
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
