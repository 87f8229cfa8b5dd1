using System.Diagnostics;
using System.Text;
using Occystrap.Abstractions;

namespace Occystrap.Host.Terminal;

/// <summary>How progress is shown on standard error.</summary>
internal enum ProgressMode
{
    /// <summary>A terminal: a block of live bars under the log, redrawn in place.</summary>
    Live,

    /// <summary>Not a terminal (a CI log, a file): a line when each task starts and ends, and one every few seconds.</summary>
    Lines,

    /// <summary><c>--quiet</c>: no progress at all.</summary>
    Quiet,
}

/// <summary>
/// Progress on stderr, and the one writer of every stderr line while it runs. On a terminal, running tasks
/// are bars in a block at the bottom; a log line or a finished task is written above the block, which is
/// erased and drawn again around it in one write, so lines stay whole. Off a terminal, each task has a line
/// when it starts and when it ends (done, or failed), and a line with its percentage and speed every 5 s.
/// </summary>
internal sealed class ConsoleProgress : IProgressReporter, IDisposable
{
    private static readonly TimeSpan LineInterval = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan LiveInterval = TimeSpan.FromMilliseconds(150);
    private const int BarWidth = 24;

    private readonly TextWriter _err;
    private readonly bool _color;
    private readonly Func<(int Width, int Height)> _size;
    private readonly object _gate = new();
    private readonly List<Item> _running = [];
    private ProgressMode _mode;
    private Timer? _timer;
    private int _drawn;
    private bool _disposed;

    public ConsoleProgress(ProgressMode mode, bool color, TextWriter err, Func<(int Width, int Height)>? size = null)
    {
        _mode = mode;
        _color = color && mode == ProgressMode.Live;
        _err = err;
        _size = size ?? TerminalSize;
    }

    /// <summary>Writes one whole line to stderr, above the live bars when they are shown.</summary>
    public void WriteLine(string line)
    {
        lock (_gate)
        {
            if (_mode == ProgressMode.Live && _drawn > 0) Above(line);
            else Line(line);
        }
    }

    public IProgressTask Start(string description, long? totalBytes)
    {
        if (_mode == ProgressMode.Quiet) return NullProgressReporter.Instance.Start(description, totalBytes);
        var item = new Item(this, description, totalBytes);
        lock (_gate)
        {
            if (_disposed) return item;
            _running.Add(item);
            if (_mode == ProgressMode.Lines)
                Line($"occystrap: {description}: started{(totalBytes is { } t ? $", {Sizes.Format(t)}" : "")}");
            var period = _mode == ProgressMode.Live ? LiveInterval : TimeSpan.FromSeconds(1);
            _timer ??= new Timer(_ => Tick(), null, period, period);
        }
        return item;
    }

    private void Tick()
    {
        lock (_gate)
        {
            if (_disposed) return;
            if (_mode == ProgressMode.Live)
            {
                if (_running.Count == 0 && _drawn == 0) return;
                var text = new StringBuilder();
                Erase(text);
                Draw(text);
                Emit(text);
                return;
            }
            foreach (var item in _running)
            {
                if (item.Elapsed < item.NextLine) continue;
                item.NextLine += LineInterval;
                Line($"occystrap: {item.Description}: {Amount(item)}, {Speed(item)}");
            }
        }
    }

    private void Finish(Item item, string? failure)
    {
        lock (_gate)
        {
            if (!_running.Remove(item) || _mode == ProgressMode.Quiet) return;
            string line = failure is null
                ? $"occystrap: {item.Description}: {Paint("done", "32")}, {Sizes.Format(item.Done)} in {item.Elapsed.TotalSeconds:0.0} s ({Speed(item)})"
                : $"occystrap: {item.Description}: {Paint(failure, "31")} after {Amount(item)}";
            if (_mode == ProgressMode.Live) Above(line);
            else Line(line);
        }
    }

    /// <summary>"45% (5.5 MiB of 12.3 MiB)", or the bytes alone when the size is not known.</summary>
    private static string Amount(Item item) =>
        item.Total is { } total and > 0
            ? $"{Math.Min(100, item.Done * 100 / total)}% ({Sizes.Format(item.Done)} of {Sizes.Format(total)})"
            : Sizes.Format(item.Done);

    private static string Speed(Item item) =>
        $"{Sizes.Format((long)(item.Done / Math.Max(item.Elapsed.TotalSeconds, 0.001)))}/s";

    private string Paint(string text, string code) => _color ? $"\u001b[{code}m{text}\u001b[0m" : text;

    private void Line(string line)
    {
        _err.Write(line + "\n");
        _err.Flush();
    }

    /// <summary>The block erased, the line written where it began, the block drawn again under it: one write.</summary>
    private void Above(string line)
    {
        var text = new StringBuilder();
        Erase(text);
        text.Append(line).Append('\n');
        Draw(text);
        Emit(text);
    }

    private void Emit(StringBuilder text)
    {
        if (text.Length == 0) return;
        _err.Write(text.ToString());
        _err.Flush();
    }

    /// <summary>Moves back over the block drawn last and clears it, so the next write starts where it began.</summary>
    private void Erase(StringBuilder text)
    {
        if (_drawn == 0) return;
        text.Append("\u001b[").Append(_drawn).Append("A\r\u001b[J");
        _drawn = 0;
    }

    /// <summary>One line per running task, cut to the terminal's width so that no line wraps (the erase counts lines).</summary>
    private void Draw(StringBuilder text)
    {
        if (_running.Count == 0) return;
        var (width, height) = _size();
        int room = Math.Max(1, height - 2);
        int shown = _running.Count <= room ? _running.Count : room - 1;
        for (int i = 0; i < shown; i++) text.Append(Cut(Bar(_running[i]), width)).Append('\n');
        if (shown < _running.Count) text.Append(Cut($"... and {_running.Count - shown} more", width)).Append('\n');
        _drawn = shown + (shown < _running.Count ? 1 : 0);
    }

    private static string Bar(Item item)
    {
        var line = new StringBuilder(item.Description).Append("  ");
        if (item.Total is { } total and > 0)
        {
            int filled = (int)Math.Min(BarWidth, item.Done * BarWidth / total);
            line.Append('[').Append('=', filled).Append(filled < BarWidth ? ">" : "").Append(' ', Math.Max(0, BarWidth - filled - 1)).Append("]  ");
            line.Append(Math.Min(100, item.Done * 100 / total)).Append("%  ")
                .Append(Sizes.Format(item.Done)).Append(" of ").Append(Sizes.Format(total));
        }
        else line.Append(Sizes.Format(item.Done));
        return line.Append("  ").Append(Speed(item)).ToString();
    }

    private static string Cut(string line, int width) => line.Length < width ? line : line[..Math.Max(1, width - 1)];

    private static (int Width, int Height) TerminalSize()
    {
        try
        {
            int w = Console.WindowWidth, h = Console.WindowHeight;
            if (w > 0 && h > 0) return (w, h);
        }
        catch (Exception e) when (e is IOException or PlatformNotSupportedException or InvalidOperationException)
        {
            // no size to be had: the defaults below
        }
        return (int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out int c) && c > 0 ? c : 80, 24);
    }

    /// <summary>Clears the live block; afterwards lines go straight to stderr and no task is shown.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _timer?.Dispose();
            var text = new StringBuilder();
            Erase(text);
            Emit(text);
            _running.Clear();
            _mode = _mode == ProgressMode.Live ? ProgressMode.Lines : _mode;
        }
    }

    private sealed class Item(ConsoleProgress owner, string description, long? total) : IProgressTask
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _done;
        private int _finished;

        public string Description => description;
        public long? Total => total;
        public long Done => Interlocked.Read(ref _done);
        public TimeSpan Elapsed => _clock.Elapsed;
        public TimeSpan NextLine { get; set; } = LineInterval;

        public void Advance(long bytes) => Interlocked.Add(ref _done, bytes);

        public void Fail(string reason)
        {
            if (Interlocked.Exchange(ref _finished, 1) == 0) owner.Finish(this, reason);
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _finished, 1) == 0) owner.Finish(this, null);
        }
    }
}

internal static class Sizes
{
    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? $"{bytes} B" : $"{value:0.0} {units[unit]}";
    }
}
