using Microsoft.Extensions.Logging;

namespace Occystrap.Host.Terminal;

/// <summary>
/// Logs to stderr, one line per message. Warnings and errors always show; information shows by
/// default; <c>--verbose</c> adds debug lines from Occystrap's own code and plugins, <c>--debug</c> adds everything.
/// </summary>
internal sealed class StderrLoggerFactory(LogLevel minimum, Action<string> write) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new StderrLogger(categoryName, minimum, write);

    public void AddProvider(ILoggerProvider provider) { }

    public void Dispose() { }

    private sealed class StderrLogger(string category, LogLevel minimum, Action<string> write) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            string level = logLevel switch
            {
                LogLevel.Warning => "warning: ",
                LogLevel.Error or LogLevel.Critical => "error: ",
                LogLevel.Debug or LogLevel.Trace => $"debug: {category}: ",
                _ => "",
            };
            write($"occystrap: {level}{formatter(state, exception)}");
        }
    }
}
