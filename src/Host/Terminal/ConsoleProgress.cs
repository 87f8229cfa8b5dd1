using System.Diagnostics;
using Occystrap.Abstractions;
using Spectre.Console;

namespace Occystrap.Host.Terminal;

/// <summary>
/// Progress on stderr: live bars when stderr is a terminal, otherwise a plain line per task every few
/// seconds (and one when it ends), so that CI logs show that work goes on without filling up.
/// </summary>
internal sealed class ConsoleProgress : IProgressReporter, IDisposable
{
    private static readonly TimeSpan LineInterval = TimeSpan.FromSeconds(10);
    private readonly IAnsiConsole? _console;
    private readonly Action<string> _line;
    private readonly object _gate = new();
    private ProgressContext? _context;
    private Task? _liveTask;
    private TaskCompletionSource? _stop;

    public ConsoleProgress(bool interactive, Action<string> line)
    {
        _line = line;
        if (interactive)
            _console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
    }

    public IProgressTask Start(string description, long? totalBytes)
    {
        if (_console is null) return new LineTask(this, description, totalBytes);
        EnsureLive();
        lock (_gate)
        {
            var task = _context!.AddTask(Markup.Escape(description), maxValue: Math.Max(1, totalBytes ?? 1));
            task.IsIndeterminate = totalBytes is null;
            return new BarTask(task, totalBytes is null);
        }
    }

    private void EnsureLive()
    {
        lock (_gate)
        {
            if (_liveTask is not null) return;
            var ready = new TaskCompletionSource();
            _stop = new TaskCompletionSource();
            _liveTask = Task.Run(() => _console!.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn())
                .StartAsync(async ctx =>
                {
                    _context = ctx;
                    ready.SetResult();
                    await _stop.Task.ConfigureAwait(false);
                    ctx.Refresh();
                }));
            ready.Task.Wait();
        }
    }

    public void Dispose()
    {
        _stop?.TrySetResult();
        _liveTask?.Wait();
    }

    private sealed class BarTask(ProgressTask task, bool indeterminate) : IProgressTask
    {
        public void Advance(long bytes)
        {
            if (indeterminate) return;
            task.Increment(bytes);
        }

        public void Dispose()
        {
            task.IsIndeterminate = false;
            task.Value = task.MaxValue;
            task.StopTask();
        }
    }

    private sealed class LineTask(ConsoleProgress owner, string description, long? total) : IProgressTask
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private TimeSpan _next = LineInterval;
        private long _done;

        public void Advance(long bytes)
        {
            _done += bytes;
            if (_clock.Elapsed < _next) return;
            _next = _clock.Elapsed + LineInterval;
            owner._line($"occystrap: {description}: {Sizes.Format(_done)}{(total is { } t ? " of " + Sizes.Format(t) : "")}");
        }

        public void Dispose() { }
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
