using Occystrap.Abstractions;

namespace Occystrap.Formats.Tar;

/// <summary>
/// A layer tar rewritten on the fly as it is read: every entry passes the filters in order (each may
/// change the header or drop the entry) and is written again with <see cref="TarArchiveWriter"/>.
/// One pass, pulled by the reader, with memory bounded by the largest header whatever the layer size.
/// At the end the input is drained, so a verifying input stream sees all of its bytes.
/// </summary>
public sealed class TarRewriteStream : Stream
{
    private readonly Stream _input;
    private readonly TarArchiveReader _reader;
    private readonly IReadOnlyList<ILayerEntryFilter> _filters;
    private readonly MemoryStream _pending = new();
    private readonly TarArchiveWriter _writer;
    private TarRecord? _record;
    private long _dataRemaining;
    private int _padding;
    private bool _finished;

    public TarRewriteStream(Stream input, IReadOnlyList<ILayerEntryFilter> filters, string description = "layer")
    {
        _input = input;
        _reader = new TarArchiveReader(input, leaveOpen: true) { Description = description };
        _filters = filters;
        _writer = new TarArchiveWriter(_pending, leaveOpen: true);
    }

    /// <summary>Entries the filters dropped.</summary>
    public int Dropped { get; private set; }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.Length == 0) return 0;
        while (true)
        {
            if (_pending.Position < _pending.Length)
            {
                int n = _pending.Read(buffer);
                if (_pending.Position == _pending.Length) _pending.SetLength(0);
                return n;
            }
            if (_dataRemaining > 0)
            {
                int n = _record!.Data.Read(buffer[..(int)Math.Min(buffer.Length, _dataRemaining)]);
                if (n == 0) throw new TarFormatException($"'{_record.Entry.Path}': content ended early");
                _dataRemaining -= n;
                if (_dataRemaining == 0 && _padding > 0) Queue(new byte[_padding]);
                return n;
            }
            if (_finished) return 0;
            Advance();
        }
    }

    private void Advance()
    {
        var record = _reader.Next();
        if (record is null)
        {
            _writer.Finish();
            _pending.Position = 0;
            _finished = true;
            _input.CopyTo(Null);
            foreach (var f in _filters) f.Complete();
            return;
        }
        foreach (var f in _filters)
        {
            if (f.Process(record.Entry) == EntryAction.Drop)
            {
                Dropped++;
                return;
            }
        }
        _record = record;
        string? rawMtime = record.RawMtime is not null && record.Entry.ModificationTime == record.OriginalModificationTime ? record.RawMtime : null;
        long start = _pending.Length;
        _pending.Position = start;
        long size = _writer.WriteHeaders(record.Entry, rawMtime);
        _pending.Position = 0;
        _dataRemaining = size;
        _padding = TarArchiveWriter.PaddingFor(size);
    }

    private void Queue(byte[] bytes)
    {
        _pending.SetLength(0);
        _pending.Write(bytes);
        _pending.Position = 0;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _reader.Dispose();
            _input.Dispose();
        }
        base.Dispose(disposing);
    }
}
