using System.Net;
using Occystrap.Abstractions;
using Occystrap.Formats.IO;

namespace Occystrap.Registry;

/// <summary>
/// A blob download that survives a broken connection: when the body fails or ends early it is
/// requested again from the byte it stopped at (Range), up to the client's attempt limit. A stalled
/// body (no bytes for the client's timeout) counts as broken.
/// </summary>
internal sealed class ResumableBlobStream : ReadOnlyStream
{
    private readonly RegistryClient _client;
    private readonly string _repository;
    private readonly Digest _digest;
    private readonly long? _size;
    private readonly TimeSpan _stall;
    private HttpResponseMessage _response;
    private Stream _body;
    private long _position;
    private int _resumes;

    private ResumableBlobStream(RegistryClient client, string repository, Digest digest, long? size, HttpResponseMessage response, Stream body, TimeSpan stall)
    {
        _client = client;
        _repository = repository;
        _digest = digest;
        _size = size;
        _response = response;
        _body = body;
        _stall = stall;
    }

    public static async Task<Stream> OpenAsync(RegistryClient client, string repository, Digest digest, long? size, CancellationToken ct)
    {
        var response = await client.GetBlobRangeAsync(repository, digest, 0, ct).ConfigureAwait(false);
        var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        return new ResumableBlobStream(client, repository, digest, size, response, body, TimeSpan.FromSeconds(120));
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override int Read(Span<byte> buffer)
    {
        byte[] temp = new byte[buffer.Length];
        int n = Read(temp, 0, temp.Length);
        temp.AsSpan(0, n).CopyTo(buffer);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.Length == 0) return 0;
        while (true)
        {
            string failure;
            Exception? error = null;
            try
            {
                using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                stall.CancelAfter(_stall);
                int n = await _body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                if (n > 0)
                {
                    _position += n;
                    return n;
                }
                if (_size is null || _position >= _size) return 0;
                failure = "the body ended early";
            }
            catch (Exception e) when (RegistryClient.IsTransient(e, cancellationToken) || e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                error = e;
                failure = e is OperationCanceledException ? $"no data for {_stall.TotalSeconds:0}s" : e.Message;
            }
            if (++_resumes > 5)
                throw new RegistryException($"{_client.Host}: blob {_digest} of {_repository}: {failure} at byte {_position}; gave up after {_resumes - 1} resumes", inner: error);
            _client.Retrying($"blob {_digest.Short}", failure, $"resuming at byte {_position} (resume {_resumes} of 5)");
            await ResumeAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ResumeAsync(CancellationToken ct)
    {
        _body.Dispose();
        _response.Dispose();
        await Task.Delay(TimeSpan.FromMilliseconds(200 * _resumes), ct).ConfigureAwait(false);
        _response = await _client.GetBlobRangeAsync(_repository, _digest, _position, ct).ConfigureAwait(false);
        _body = await _response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        if (_position > 0 && _response.StatusCode != HttpStatusCode.PartialContent)
        {
            // The server ignored the Range: skip what was already read.
            long skip = _position;
            byte[] scratch = new byte[81920];
            while (skip > 0)
            {
                int n = await _body.ReadAsync(scratch.AsMemory(0, (int)Math.Min(scratch.Length, skip)), ct).ConfigureAwait(false);
                if (n == 0) throw new RegistryException($"{_client.Host}: blob {_digest}: the body ended while resuming");
                skip -= n;
            }
        }
    }

    public override long Length => _size ?? throw new NotSupportedException();
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _body.Dispose();
            _response.Dispose();
        }
        base.Dispose(disposing);
    }
}
