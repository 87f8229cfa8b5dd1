using Occystrap.Abstractions;
using Occystrap.Formats.IO;

namespace Occystrap.Formats.Tar;

/// <summary>
/// A layer tar passed through entry filters on the fly as it is read: one pass, pulled by the reader,
/// with memory bounded by the largest header whatever the layer size.
/// <list type="bullet">
/// <item>When some filter changes entries, every entry passes the stages in order (each filter may change
/// the header or drop the entry) and is written again with <see cref="TarArchiveWriter"/>. Taps between the
/// filters serialise the entries as they stand there into a hash, so an observer in the middle of the chain
/// learns the digest the layer has at that point.</item>
/// <item>When every filter only looks, the output is the input byte for byte.</item>
/// </list>
/// At the end the input is drained, so a verifying input stream sees all of its bytes.
/// </summary>
public sealed class TarRewriteStream : ReadOnlyStream
{
    private readonly RecordingStream _input;
    private readonly TarArchiveReader _reader;
    private readonly IReadOnlyList<LayerStage> _stages;
    private readonly bool _preserve;
    private readonly MemoryStream _pending = new();
    private readonly TarArchiveWriter _writer;
    private TarRecord? _record;
    private long _dataRemaining;
    private long _dataSize;
    private int _padding;
    private bool _finished;
    private Dictionary<string, byte[]>? _globalPending;

    public TarRewriteStream(Stream input, IReadOnlyList<ILayerEntryFilter> filters, string description = "layer")
        : this(input, filters.Select(LayerStage.Of).ToList(), description)
    {
    }

    public TarRewriteStream(Stream input, IReadOnlyList<LayerStage> stages, string description = "layer")
    {
        _stages = stages;
        _preserve = stages.OfType<LayerStage.FilterStage>().All(s => !s.Filter.ChangesEntries);
        _input = new RecordingStream(input, _pending);
        _reader = new TarArchiveReader(_input, leaveOpen: true) { Description = description };
        _writer = new TarArchiveWriter(_pending, leaveOpen: true);
    }

    /// <summary>Entries the filters dropped.</summary>
    public int Dropped { get; private set; }

    /// <summary>True when the output is the input unchanged (every filter only looks).</summary>
    public bool PreservesBytes => _preserve;


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
                foreach (var tap in Taps()) tap.Writer.BaseStream.Write(buffer[..n]);
                if (_dataRemaining == 0) EndOfData();
                return n;
            }
            if (_finished) return 0;
            Advance();
        }
    }

    private IEnumerable<LayerStage.Tap> Taps() => _stages.OfType<LayerStage.Tap>().Where(t => t.Receiving);

    private void EndOfData()
    {
        foreach (var tap in Taps()) tap.Writer.CompleteStreamedContent(_dataSize);
        if (!_preserve && _padding > 0)
        {
            _pending.SetLength(0);
            _pending.Write(new byte[_padding]);
            _pending.Position = 0;
        }
    }

    private void Advance()
    {
        _pending.SetLength(0);
        _input.Recording = _preserve;
        var record = _reader.Next();
        if (record is null)
        {
            if (!_preserve) _writer.Finish();
            _input.Recording = _preserve;
            _input.CopyTo(Null);
            _input.Recording = false;
            _pending.Position = 0;
            _finished = true;
            foreach (var stage in _stages)
            {
                if (stage is LayerStage.FilterStage f) f.Filter.Complete();
                else if (stage is LayerStage.Tap t) t.Writer.Finish();
            }
            return;
        }
        _input.Recording = false;
        if (record.GlobalHeaderBefore is { } global)
        {
            // Stated again before the next entry written, even when this one is dropped.
            Pend(ref _globalPending, global);
            foreach (var tap in _stages.OfType<LayerStage.Tap>())
            {
                var pending = tap.PendingGlobal;
                Pend(ref pending, global);
                tap.PendingGlobal = pending;
            }
        }

        bool kept = true;
        foreach (var stage in _stages)
        {
            if (stage is LayerStage.Tap tap)
            {
                tap.Receiving = kept;
                if (kept)
                {
                    if (tap.PendingGlobal is not null) tap.Writer.WriteGlobalHeader(tap.PendingGlobal);
                    tap.PendingGlobal = null;
                    tap.Writer.WriteHeaders(record.Entry, RawMtime(record));
                }
                continue;
            }
            if (!kept) continue;
            var filter = ((LayerStage.FilterStage)stage).Filter;
            if (filter.Process(record.Entry) == EntryAction.Drop)
            {
                if (!filter.ChangesEntries) throw new InvalidOperationException($"{filter.GetType().Name} says it only looks, but dropped '{record.Entry.Path}'");
                kept = false;
            }
        }

        _record = record;
        _dataSize = record.Entry.Size;
        _padding = TarArchiveWriter.PaddingFor(_dataSize);
        if (kept)
        {
            if (!_preserve)
            {
                if (_globalPending is not null) _writer.WriteGlobalHeader(_globalPending);
                _writer.WriteHeaders(record.Entry, RawMtime(record));
            }
            _globalPending = null;
            _dataRemaining = _dataSize;
            _pending.Position = 0;
            if (_dataRemaining == 0) EndOfData();
            return;
        }

        // Dropped: the reader skips its content, but taps before the drop still take it.
        Dropped++;
        if (Taps().Any())
        {
            byte[] chunk = new byte[64 * 1024];
            int n;
            while ((n = record.Data.Read(chunk)) > 0)
                foreach (var tap in Taps()) tap.Writer.BaseStream.Write(chunk, 0, n);
            foreach (var tap in Taps()) tap.Writer.CompleteStreamedContent(_dataSize);
        }
        _pending.SetLength(0);
    }

    private static void Pend(ref Dictionary<string, byte[]>? pending, IReadOnlyDictionary<string, byte[]> records)
    {
        pending ??= new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (k, v) in records) pending[k] = v;
    }

    private static string? RawMtime(TarRecord record) =>
        record.RawMtime is not null && record.Entry.ModificationTime == record.OriginalModificationTime ? record.RawMtime : null;


    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _reader.Dispose();
            _input.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <summary>Passes reads through and, while <see cref="Recording"/>, copies what was read into a buffer.</summary>
    private sealed class RecordingStream(Stream inner, MemoryStream record) : ReadOnlyStream
    {
        public bool Recording { get; set; }

    
        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            if (Recording && n > 0)
            {
                long at = record.Position;
                record.Position = record.Length;
                record.Write(buffer[..n]);
                record.Position = at;
            }
            return n;
        }

                                    
        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
