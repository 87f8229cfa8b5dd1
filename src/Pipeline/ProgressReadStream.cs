using Occystrap.Abstractions;
using Occystrap.Formats.IO;

namespace Occystrap.Pipeline;

/// <summary>
/// Reports the bytes read through it to a progress task, and says once, through <paramref name="atEnd"/>, that
/// its end was reached.
/// </summary>
internal sealed class ProgressReadStream(Stream inner, IProgressTask task, Action? atEnd = null) : ReadOnlyStream
{
    private Action? _atEnd = atEnd;

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        Account(n, buffer.Length);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Account(n, buffer.Length);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private void Account(int n, int asked)
    {
        task.Advance(n);
        if (n == 0 && asked > 0 && _atEnd is { } atEnd)
        {
            _atEnd = null;
            atEnd();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
