using System.Net;
using Occystrap.Abstractions;
using Occystrap.Formats.IO;

namespace Occystrap.Registry;

/// <summary>An upload body produced by a writer as it is sent, hashed on the way.</summary>
internal sealed class StreamingContent(Func<Stream, CancellationToken, Task> write, long? length) : HttpContent
{
    private HashingWriteStream? _hash;

    public Digest Digest => _hash?.Complete() ?? throw new InvalidOperationException("the body was not sent");

    public long Length => _hash?.BytesWritten ?? 0;

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        if (_hash is not null) throw new InvalidOperationException("a streamed upload body cannot be sent twice");
        _hash = new HashingWriteStream(stream);
        await write(_hash, cancellationToken).ConfigureAwait(false);
        await _hash.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (length is { } l && _hash.BytesWritten != l)
            throw new IOException($"the upload body was {_hash.BytesWritten} bytes, not the {l} announced");
    }

    protected override bool TryComputeLength(out long result)
    {
        result = length ?? 0;
        return length is not null;
    }
}
