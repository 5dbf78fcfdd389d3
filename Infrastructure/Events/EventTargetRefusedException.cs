using System.Net;
using System.Net.Sockets;

namespace Backstop.Infrastructure.Events;

/// <summary>A delivery's host resolved only to addresses it may not connect to.</summary>
internal sealed class EventTargetRefusedException(string message) : Exception(message);
