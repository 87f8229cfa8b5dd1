using Occystrap.Abstractions;
using Occystrap.Formats.IO;

namespace Occystrap.Pipeline;

/// <summary>Reports the bytes read through it to a progress task.</summary>
internal sealed class ProgressReadStream(Stream inner, IProgressTask task) : ReadOnlyStream
{

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        task.Advance(n);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        task.Advance(n);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();


    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
